"""Digest authentication (sipctl.sip.auth): RFC 2617 / RFC 7616 worked examples, RFC 8760
algorithms, the DigestClient state (nc, stale, rejection, authtype, md5/HA1, realm) and
malformed challenges."""
import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipctl.sip.auth import (
    ALGORITHMS,
    AuthenticationFailed,
    ChallengeNotAllowed,
    CredentialsRejected,
    DigestChallenge,
    DigestClient,
    RealmMismatch,
    UnsupportedChallenge,
    compute_response,
    digest_ha1,
    parse_authorization,
    parse_challenges,
    select_challenge,
    verify,
)
from sipctl.sip.errors import LocalProtocolError, ParseError


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def counter_cnonce(prefix="cn"):
    it = itertools.count(1)
    return lambda: f"{prefix}{next(it)}"


# --------------------------------------------------------------------------- RFC 2617 3.5

RFC2617_CHALLENGE = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                     'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                     'opaque="5ccc069c403ebaf9f0171e9517f40e41"')


def test_rfc2617_challenge_fields():
    [c] = parse_challenges(RFC2617_CHALLENGE)
    assert c == DigestChallenge(realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                algorithm="MD5", algorithm_given=False,
                                opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=("auth", "auth-int"))
    assert c.supported and not c.stale


def test_rfc2617_section_3_5_example():
    client = DigestClient("Mufasa", "Circle Of Life", new_cnonce=lambda: "0a4f113b")
    name, value = client.answer("WWW-Authenticate", [RFC2617_CHALLENGE], "GET", "/dir/index.html")
    assert name == "Authorization"
    cred = parse_authorization(value)
    assert cred.response == "6629fae49393a05397450978507c4ef1"
    assert (cred.username, cred.realm, cred.uri, cred.qop, cred.nc, cred.cnonce, cred.opaque) == (
        "Mufasa", "testrealm@host.com", "/dir/index.html", "auth", 1, "0a4f113b",
        "5ccc069c403ebaf9f0171e9517f40e41")
    assert 'qop=auth, nc=00000001' in value and value.startswith('Digest username="Mufasa"')
    assert cred.algorithm is None  # the challenge named none, so we echo none
    assert verify(value, "GET", "Circle Of Life")
    assert not verify(value, "GET", "Circle of Life")
    assert not verify(value, "POST", "Circle Of Life")


def test_rfc2617_compute_response_directly():
    ha1 = digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert compute_response(algorithm="MD5", ha1=ha1, nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                            method="GET", uri="/dir/index.html", qop="auth", nc=1,
                            cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


# --------------------------------------------------------------------------- RFC 7616 3.9.1

R7616 = dict(realm="http-auth@example.org", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
             opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
             cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
R7616_MD5 = "8ca523f5e9506fed4657c9700eebdbec"
R7616_SHA256 = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def r7616_challenge(alg):
    return (f'Digest\r\n    realm="{R7616["realm"]}",\r\n    qop="auth, auth-int",\r\n'
            f'    algorithm={alg},\r\n    nonce="{R7616["nonce"]}",\r\n'
            f'    opaque="{R7616["opaque"]}"')


def test_rfc7616_two_challenges_pick_sha256():
    client = DigestClient("Mufasa", "Circle of Life", new_cnonce=lambda: R7616["cnonce"])
    # the RFC's 401 carries both, SHA-256 first
    _, value = client.answer("WWW-Authenticate", [r7616_challenge("SHA-256"), r7616_challenge("MD5")],
                             "GET", "/dir/index.html")
    cred = parse_authorization(value)
    assert (cred.algorithm, cred.response) == ("SHA-256", R7616_SHA256)
    assert 'algorithm=SHA-256' in value and cred.opaque == R7616["opaque"]
    assert verify(value, "GET", "Circle of Life")


@pytest.mark.parametrize("alg,expected", [("MD5", R7616_MD5), ("SHA-256", R7616_SHA256)])
def test_rfc7616_each_algorithm(alg, expected):
    client = DigestClient("Mufasa", "Circle of Life", new_cnonce=lambda: R7616["cnonce"])
    _, value = client.answer("WWW-Authenticate", r7616_challenge(alg), "GET", "/dir/index.html")
    assert parse_authorization(value).response == expected
    ha1 = digest_ha1("Mufasa", R7616["realm"], "Circle of Life", alg)
    assert compute_response(algorithm=alg, ha1=ha1, nonce=R7616["nonce"], method="GET",
                            uri="/dir/index.html", qop="auth", nc=1,
                            cnonce=R7616["cnonce"]) == expected


def test_rfc7616_md5_only_with_ha1():
    """An MD5 HA1 (the md5 parameter) can only answer the MD5 challenge of the pair."""
    ha1 = md5("Mufasa:http-auth@example.org:Circle of Life")
    client = DigestClient("Mufasa", ha1=ha1, new_cnonce=lambda: R7616["cnonce"])
    _, value = client.answer("WWW-Authenticate", [r7616_challenge("SHA-256"), r7616_challenge("MD5")],
                             "GET", "/dir/index.html")
    assert parse_authorization(value).response == R7616_MD5
    assert verify(value, "GET", ha1, is_ha1=True)


# --------------------------------------------------------------------------- RFC 8760 algorithms


@pytest.mark.skipif("SHA-512-256" not in ALGORITHMS, reason="no sha512_256 in this OpenSSL")
def test_rfc8760_sha512_256_round_trip_and_preference():
    chals = [f'Digest realm="sip.example.net", nonce="n-{a}", algorithm={a}, qop="auth"'
             for a in ("MD5", "SHA-256", "SHA-512-256")]
    client = DigestClient("bob", "zanzibar", new_cnonce=lambda: "c0ffee")
    name, value = client.answer("Proxy-Authenticate", chals, "REGISTER", "sip:sip.example.net")
    assert name == "Proxy-Authorization"
    cred = parse_authorization(value)
    assert cred.algorithm == "SHA-512-256" and cred.nonce == "n-SHA-512-256"
    assert len(cred.response) == 64
    ha1 = hashlib.new("sha512_256", b"bob:sip.example.net:zanzibar").hexdigest()
    ha2 = hashlib.new("sha512_256", b"REGISTER:sip:sip.example.net").hexdigest()
    assert cred.response == hashlib.new(
        "sha512_256", f"{ha1}:n-SHA-512-256:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
    assert verify(value, "REGISTER", "zanzibar")
    assert verify(value, "REGISTER", ha1, is_ha1=True)
    assert not verify(value, "REGISTER", "zanzibaR")


def test_sha512_256_sess_and_sha256_sess_round_trip():
    for alg in [a for a in ALGORITHMS if a.endswith("-sess")]:
        client = DigestClient("u", "p", new_cnonce=lambda: "abc")
        _, value = client.answer("WWW-Authenticate",
                                 f'Digest realm="r", nonce="n", algorithm={alg}, qop="auth"',
                                 "INVITE", "sip:x@y")
        assert parse_authorization(value).algorithm == alg
        assert verify(value, "INVITE", "p"), alg


def test_equal_strength_keeps_server_order():
    chals = parse_challenges(['Digest realm="r", nonce="first", algorithm=SHA-256',
                              'Digest realm="r", nonce="second", algorithm=SHA-256-sess'])
    assert select_challenge(chals).nonce == "first"
    assert select_challenge(chals, algorithms=["SHA-256-sess"]).nonce == "second"
    with pytest.raises(UnsupportedChallenge):
        select_challenge(chals, realm="elsewhere")


def test_algorithm_spelling_is_case_insensitive():
    [c] = parse_challenges('Digest realm="r", nonce="n", algorithm="sha-256"')
    assert c.algorithm == "SHA-256" and c.algorithm_given


# --------------------------------------------------------------------------- qop variants


def test_auth_int_hashes_the_body():
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    client = DigestClient("alice", "secret", new_cnonce=lambda: "xyz")
    _, value = client.answer("WWW-Authenticate", 'Digest realm="atlanta.com", nonce="abc", qop="auth-int"',
                             "INVITE", "sip:bob@biloxi.com", body)
    cred = parse_authorization(value)
    assert cred.qop == "auth-int"
    ha1 = md5("alice:atlanta.com:secret")
    ha2 = md5("INVITE:sip:bob@biloxi.com:" + hashlib.md5(body).hexdigest())
    assert cred.response == md5(f"{ha1}:abc:00000001:xyz:auth-int:{ha2}")
    assert verify(value, "INVITE", "secret", body)
    assert not verify(value, "INVITE", "secret", body + b"a=x\r\n")


def test_auth_preferred_unless_asked_for_auth_int():
    chal = 'Digest realm="r", nonce="n", qop="auth,auth-int"'
    plain = DigestClient("u", "p", new_cnonce=lambda: "c")
    assert parse_authorization(plain.answer("WWW-Authenticate", chal, "BYE", "sip:a@b")[1]).qop == "auth"
    strict = DigestClient("u", "p", new_cnonce=lambda: "c", prefer_auth_int=True)
    assert parse_authorization(strict.answer("WWW-Authenticate", chal, "BYE", "sip:a@b")[1]).qop == "auth-int"


def test_no_qop_is_rfc2069_mode():
    def no_cnonce():
        raise AssertionError("cnonce must not be drawn without qop")
    client = DigestClient("alice", "secret", new_cnonce=no_cnonce)
    _, value = client.answer("WWW-Authenticate", 'Digest realm="atlanta.com", nonce="84a4cc6f", algorithm=MD5',
                             "REGISTER", "sip:atlanta.com")
    cred = parse_authorization(value)
    assert cred.qop is None and cred.nc is None and cred.cnonce is None
    assert "nc=" not in value and "cnonce" not in value and "algorithm=MD5" in value
    ha1, ha2 = md5("alice:atlanta.com:secret"), md5("REGISTER:sip:atlanta.com")
    assert cred.response == md5(f"{ha1}:84a4cc6f:{ha2}")
    assert verify(value, "REGISTER", "secret")


def test_md5_sess():
    client = DigestClient("alice", "secret", new_cnonce=lambda: "0a4f113b")
    _, value = client.answer("WWW-Authenticate", 'Digest realm="r", nonce="nn", algorithm=MD5-sess, qop="auth"',
                             "INVITE", "sip:bob@b")
    cred = parse_authorization(value)
    assert cred.algorithm == "MD5-sess"
    ha1 = md5(md5("alice:r:secret") + ":nn:0a4f113b")
    assert cred.response == md5(f"{ha1}:nn:00000001:0a4f113b:auth:{md5('INVITE:sip:bob@b')}")
    assert verify(value, "INVITE", "secret")
    assert verify(value, "INVITE", md5("alice:r:secret"), is_ha1=True)


# --------------------------------------------------------------------------- client state


CHAL = 'Digest realm="pbx", nonce="{n}", qop="auth"{extra}'


def chal(n, extra=""):
    return CHAL.format(n=n, extra=extra)


def nc_of(value):
    return parse_authorization(value).nc


def test_nonce_counting_and_new_nonce_reset():
    client = DigestClient("1000", "pw", new_cnonce=counter_cnonce())
    _, v = client.answer("WWW-Authenticate", chal("N1"), "REGISTER", "sip:pbx")
    assert nc_of(v) == 1
    client.reset()
    # later requests re-use the nonce pre-emptively: nc keeps counting, cnonce is fresh
    [(h, v2)] = client.authorization("REGISTER", "sip:pbx")
    [(_, v3)] = client.authorization("INVITE", "sip:2000@pbx")
    assert h == "Authorization" and (nc_of(v2), nc_of(v3)) == (2, 3)
    assert parse_authorization(v2).cnonce != parse_authorization(v3).cnonce
    assert verify(v3, "INVITE", "pw")
    # the server moves to a new nonce: counting restarts
    _, v4 = client.answer("WWW-Authenticate", chal("N2"), "REGISTER", "sip:pbx")
    assert (parse_authorization(v4).nonce, nc_of(v4)) == ("N2", 1)
    client.reset()
    # the same nonce challenged again in a new flow keeps its count (no replayed nc)
    _, v5 = client.answer("WWW-Authenticate", chal("N2"), "REGISTER", "sip:pbx")
    assert nc_of(v5) == 2


def test_stale_retries_without_counting_as_failure():
    client = DigestClient("1000", "pw", new_cnonce=counter_cnonce())
    client.answer("WWW-Authenticate", chal("N1"), "REGISTER", "sip:pbx")
    _, v = client.answer("WWW-Authenticate", chal("N2", ", stale=TRUE"), "REGISTER", "sip:pbx")
    assert (parse_authorization(v).nonce, nc_of(v)) == ("N2", 1)
    _, v = client.answer("WWW-Authenticate", chal("N3", ', stale="true"'), "REGISTER", "sip:pbx")
    assert parse_authorization(v).nonce == "N3"
    with pytest.raises(CredentialsRejected) as ei:
        client.answer("WWW-Authenticate", chal("N4", ", stale=false"), "REGISTER", "sip:pbx")
    assert ei.value.realm == "pbx" and ei.value.status == 401 and "1000" in str(ei.value)


def test_second_challenge_means_wrong_credentials_then_fresh_start():
    client = DigestClient("1000", "bad", new_cnonce=counter_cnonce())
    client.answer("Proxy-Authenticate", chal("N1"), "INVITE", "sip:2000@pbx")
    with pytest.raises(CredentialsRejected) as ei:
        client.answer("Proxy-Authenticate", chal("N2"), "INVITE", "sip:2000@pbx")
    assert ei.value.status == 407
    assert isinstance(ei.value, AuthenticationFailed)
    # reported once: a later request (say the next REGISTER refresh) is answered again
    name, _ = client.answer("Proxy-Authenticate", chal("N3"), "INVITE", "sip:2000@pbx")
    assert name == "Proxy-Authorization"


def test_reset_after_success_and_flows():
    client = DigestClient("1000", "pw", new_cnonce=counter_cnonce())
    client.answer("WWW-Authenticate", chal("N1"), "REGISTER", "sip:pbx")
    client.reset()  # 200 OK
    client.answer("WWW-Authenticate", chal("N2"), "REGISTER", "sip:pbx")  # a later refresh: fine
    # two lines authenticating at the same time do not trip each other
    client.answer("Proxy-Authenticate", chal("N5"), "INVITE", "sip:a@pbx", flow="line1")
    client.answer("Proxy-Authenticate", chal("N6"), "INVITE", "sip:b@pbx", flow="line2")
    with pytest.raises(CredentialsRejected):
        client.answer("Proxy-Authenticate", chal("N7"), "INVITE", "sip:a@pbx", flow="line1")


def test_www_and_proxy_are_tracked_separately():
    client = DigestClient("1000", "pw", new_cnonce=counter_cnonce())
    client.answer("Proxy-Authenticate", chal("P1"), "INVITE", "sip:a@pbx")
    name, _ = client.answer("WWW-Authenticate", chal("W1"), "INVITE", "sip:a@pbx")
    assert name == "Authorization"
    assert sorted(h for h, _ in client.authorization("INVITE", "sip:a@pbx")) == [
        "Authorization", "Proxy-Authorization"]


@pytest.mark.parametrize("authtype,www_ok,proxy_ok", [(0, True, True), (1, False, True), (2, True, False)])
def test_authtype_filtering(authtype, www_ok, proxy_ok):
    for header, ok, status in (("WWW-Authenticate", www_ok, 401), ("Proxy-Authenticate", proxy_ok, 407)):
        client = DigestClient("1000", "pw", new_cnonce=lambda: "c", authtype=authtype)
        if ok:
            assert client.answer(header, chal("N"), "INVITE", "sip:a@pbx")[0].endswith("Authorization")
        else:
            with pytest.raises(ChallengeNotAllowed) as ei:
                client.answer(header, chal("N"), "INVITE", "sip:a@pbx")
            assert ei.value.status == status and f"authtype={authtype}" in str(ei.value)


def test_bad_authtype_and_header_name():
    with pytest.raises(LocalProtocolError):
        DigestClient("u", "p", new_cnonce=lambda: "c", authtype=3)
    client = DigestClient("u", "p", new_cnonce=lambda: "c")
    with pytest.raises(LocalProtocolError):
        client.answer("Authorization", chal("N"), "INVITE", "sip:a@b")


def test_md5_parameter_is_ha1():
    ha1 = md5("Mufasa:testrealm@host.com:Circle Of Life")
    client = DigestClient("Mufasa", ha1=ha1.upper(), new_cnonce=lambda: "0a4f113b")
    _, value = client.answer("WWW-Authenticate", RFC2617_CHALLENGE, "GET", "/dir/index.html")
    assert parse_authorization(value).response == "6629fae49393a05397450978507c4ef1"
    with pytest.raises(UnsupportedChallenge, match="SHA-256"):
        client.answer("WWW-Authenticate", 'Digest realm="testrealm@host.com", nonce="x", algorithm=SHA-256',
                      "GET", "/")
    with pytest.raises(LocalProtocolError, match="32 hex"):
        DigestClient("Mufasa", ha1="not-a-hash", new_cnonce=lambda: "c")
    with pytest.raises(LocalProtocolError):
        DigestClient("Mufasa", new_cnonce=lambda: "c")


def test_from_reference_parameters():
    params = {"username": "1000", "sipusername": "auth1000", "password": "pw", "realm": "",
              "md5": "", "authtype": "0"}
    client = DigestClient.from_params(params, new_cnonce=lambda: "c")
    assert (client.username, client.auth_username, client.realm, client.ha1) == (
        "1000", "auth1000", None, None)
    _, value = client.answer("WWW-Authenticate", chal("N"), "REGISTER", "sip:pbx")
    assert parse_authorization(value).username == "auth1000"  # From/To keep "1000"
    assert verify(value, "REGISTER", "pw", username="auth1000")
    assert not verify(value, "REGISTER", "pw", username="1000")
    ha1 = md5("auth1000:pbx:pw")
    by_md5 = DigestClient.from_params({"username": "1000", "sipusername": "auth1000", "md5": ha1,
                                       "realm": "pbx"}, new_cnonce=lambda: "c")
    assert verify(by_md5.answer("WWW-Authenticate", chal("N"), "REGISTER", "sip:pbx")[1], "REGISTER", "pw")


def test_realm_mismatch_is_a_clear_error():
    client = DigestClient("1000", ha1=md5("1000:sip.example.com:pw"), realm="sip.example.com",
                          new_cnonce=lambda: "c")
    with pytest.raises(RealmMismatch) as ei:
        client.answer("WWW-Authenticate", 'Digest realm="asterisk", nonce="n"', "REGISTER", "sip:pbx")
    msg = str(ei.value)
    assert "'sip.example.com'" in msg and "'asterisk'" in msg and "md5" in msg
    assert isinstance(ei.value, LocalProtocolError) and isinstance(ei.value, AuthenticationFailed)
    # with the right realm among several, only that one is answered
    name, value = client.answer("WWW-Authenticate", ['Digest realm="other", nonce="o"',
                                                     'Digest realm="sip.example.com", nonce="n"'],
                                "REGISTER", "sip:pbx")
    assert parse_authorization(value).realm == "sip.example.com"


def test_answer_all_realms():
    client = DigestClient("1000", "pw", new_cnonce=lambda: "c")
    out = client.answer_all("Proxy-Authenticate", ['Digest realm="a.example", nonce="1"',
                                                   'Digest realm="b.example", nonce="2"'],
                            "INVITE", "sip:x@y")
    assert [parse_authorization(v).realm for _, v in out] == ["a.example", "b.example"]
    assert client.answer("Proxy-Authenticate", ['Digest realm="a.example", nonce="9", stale=true'],
                         "INVITE", "sip:x@y")[0] == "Proxy-Authorization"


def test_userhash():
    client = DigestClient("Mufasa", "Circle of Life", new_cnonce=lambda: "c")
    _, value = client.answer("WWW-Authenticate",
                             'Digest realm="api@example.org", nonce="n", algorithm=SHA-256, '
                             'qop="auth", userhash=true', "GET", "/doe.json")
    cred = parse_authorization(value)
    assert cred.userhash and "userhash=true" in value
    assert cred.username == hashlib.sha256(b"Mufasa:api@example.org").hexdigest()
    assert verify(value, "GET", "Circle of Life", username="Mufasa")
    assert not verify(value, "GET", "Circle of Life", username="Simba")
    with pytest.raises(LocalProtocolError):
        verify(value, "GET", "Circle of Life")


def test_verify_checks_expected_fields():
    client = DigestClient("u", "p", new_cnonce=lambda: "c")
    _, value = client.answer("WWW-Authenticate", chal("N"), "INVITE", "sip:a@b")
    assert verify(value, "INVITE", "p", realm="pbx", nonce="N", uri="sip:a@b")
    assert not verify(value, "INVITE", "p", nonce="OTHER")
    assert not verify(value, "INVITE", "p", realm="other")
    assert not verify(value, "INVITE", "p", uri="sip:c@d")


# --------------------------------------------------------------------------- grammar


def test_quoted_string_escapes_round_trip():
    [c] = parse_challenges(r'Digest realm="a \"quoted\" realm\\x", nonce="n\,1", opaque="o"')
    assert c.realm == 'a "quoted" realm\\x' and c.nonce == "n,1"
    client = DigestClient('we"ird\\', "p", new_cnonce=lambda: "c")
    _, value = client.answer("WWW-Authenticate",
                             r'Digest realm="a \"quoted\" realm\\x", nonce="n\,1"', "OPTIONS", "sip:x")
    cred = parse_authorization(value)
    assert (cred.username, cred.realm, cred.nonce) == ('we"ird\\', 'a "quoted" realm\\x', "n,1")
    assert verify(value, "OPTIONS", "p")


def test_parse_details():
    [c] = parse_challenges('Digest realm="r",nonce="n",stale=true,domain="sip:a.example sip:b.example",'
                           'charset=UTF-8,foo="bar",qop=auth')
    assert c.stale and c.domain == ("sip:a.example", "sip:b.example") and c.charset == "UTF-8"
    assert c.extra == (("foo", "bar"),) and c.qop == ("auth",)
    # several challenges in one value, other schemes skipped
    cs = parse_challenges('Basic realm="x", Digest realm="y", nonce="1", Bearer abc.def==, '
                          'Digest realm="z", nonce="2"')
    assert [c.realm for c in cs] == ["y", "z"]
    assert parse_challenges("Negotiate") == []


def test_unknown_algorithm_falls_back_to_a_known_one():
    cs = parse_challenges(['Digest realm="r", nonce="1", algorithm=SHA3-999',
                           'Digest realm="r", nonce="2", algorithm=MD5'])
    assert not cs[0].supported and select_challenge(cs).nonce == "2"


@pytest.mark.parametrize("value,words", [
    ('Digest realm="r, nonce=n', ["unterminated"]),
    ('Digest realm="r, nonce="n"', ["unexpected"]),
    ('Digest realm="r", nonce="n\\', ["unterminated"]),
    ('Digest realm="r", opaque="o"', ["without nonce"]),
    ('Digest nonce="n"', ["without realm"]),
    ('Digest realm="r" nonce="n"', ["missing ','"]),
    ('Digest realm="r", realm="s", nonce="n"', ["duplicate", "realm"]),
    ('Digest realm="r", nonce=', ["'nonce'", "no value"]),
    ('Digest realm="r", nonce=, opaque="x"', ["'nonce'", "no value"]),
    ('"Digest" realm="r"', ["auth scheme"]),
])
def test_malformed_challenges(value, words):
    with pytest.raises(ParseError) as ei:
        DigestClient("u", "p", new_cnonce=lambda: "c").answer("WWW-Authenticate", value, "INVITE", "sip:a")
    for w in words:
        assert w in str(ei.value)
    assert ei.value.status == 400


def test_unknown_algorithm_only_is_a_clear_error():
    client = DigestClient("u", "p", new_cnonce=lambda: "c")
    with pytest.raises(UnsupportedChallenge) as ei:
        client.answer("WWW-Authenticate", 'Digest realm="r", nonce="n", algorithm=AKAv1-MD5',
                      "REGISTER", "sip:r")
    assert "AKAv1-MD5" in str(ei.value) and "MD5" in str(ei.value)
    assert isinstance(ei.value, ParseError)
    with pytest.raises(UnsupportedChallenge, match="qop=auth-conf"):
        client.answer("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth-conf"', "REGISTER", "sip:r")
    with pytest.raises(UnsupportedChallenge, match="no Digest challenge"):
        client.answer("WWW-Authenticate", 'Basic realm="r"', "REGISTER", "sip:r")


def test_parse_authorization_errors():
    with pytest.raises(ParseError, match="response"):
        parse_authorization('Digest username="u", realm="r", nonce="n", uri="sip:a"')
    with pytest.raises(ParseError, match="nc"):
        parse_authorization('Digest username="u", realm="r", nonce="n", uri="sip:a", response="x", '
                            'qop=auth, nc=1, cnonce="c"')
    with pytest.raises(ParseError):
        parse_authorization('Basic dXNlcjpwYXNz')


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='Digest realmnoc=",\\ \tqpaxyz-_5', max_size=60))
def test_fuzz_only_parse_errors(text):
    try:
        parse_challenges(text)
    except ParseError:
        pass
