"""Accounts from the reference's parameters (sipctl.accounts): primary, serveraddressN,
extraregisteraccounts, registerinterval rules, validation, global registration settings."""
import pytest

from sipctl.accounts import (
    DEFAULT_SECONDARY_INTERVAL,
    Account,
    RegistrationSettings,
    accounts_from_params,
    parse_extra_accounts,
    register_interval,
)
from sipctl.sip.uri import SipUri

HA1 = "0123456789abcdef0123456789ABCDEF"


def test_no_username_no_account():
    assert accounts_from_params({}) == []
    # serveraddress alone only configures calls by URI
    assert accounts_from_params({"serveraddress": "example.com"}) == []


def test_primary_account_all_fields():
    [a] = accounts_from_params({
        "serveraddress": "sip.example.com:5062", "username": "alice", "password": "pw",
        "md5": HA1, "sipusername": "auth-alice", "realm": "example.com",
        "displayname": "Alice A", "registerinterval": "300", "proxyaddress": "10.20.30.40:5065",
        "transport": "1"})
    assert a == Account(server="sip.example.com:5062", username="alice", password="pw", ha1=HA1,
                        authname="auth-alice", realm="example.com", displayname="Alice A",
                        register_interval=300, proxy="10.20.30.40:5065", transport=1, index=1)
    assert a.is_primary
    assert str(a.server_uri) == "sip:sip.example.com:5062"
    assert a.domain == "sip.example.com"
    assert a.aor == SipUri(host="sip.example.com", user="alice")
    assert str(a.proxy_uri) == "sip:10.20.30.40:5065;lr"
    assert a.transport_name == "TCP"
    assert a.has_credentials


def test_primary_defaults():
    [a] = accounts_from_params({"serveraddress": "example.com", "username": "alice"})
    assert (a.password, a.ha1, a.authname, a.realm, a.displayname, a.proxy) == (None,) * 6
    assert a.register_interval == 120
    assert a.transport == -1 and a.transport_name == "UDP"
    assert a.index == 1
    assert not a.has_credentials
    assert a.proxy_uri is None


def test_secrets_not_in_repr():
    [a] = accounts_from_params({"serveraddress": "example.com", "username": "alice",
                                "password": "hunter2", "md5": HA1})
    assert "hunter2" not in repr(a) and HA1 not in repr(a)


@pytest.mark.parametrize("value, expected", [
    (None, 120), ("", 120), ("DEF", 120), ("NULL", 120), ("1", 120), ("9", 120), ("10", 10),
    ("3600", 3600), ("30000", 30000), (" 60 ", 60), (5, 120), (45, 45)])
def test_register_interval_semantics(value, expected):
    assert register_interval(value) == expected


@pytest.mark.parametrize("value", ["0", "-5", "30001", "abc", "1.5"])
def test_register_interval_invalid(value):
    with pytest.raises(ValueError, match="registerinterval"):
        accounts_from_params({"serveraddress": "example.com", "username": "alice",
                              "registerinterval": value})


def test_def_and_null_count_as_unset():
    [a] = accounts_from_params({"serveraddress": "example.com", "username": "alice",
                                "password": "NULL", "proxyaddress": "DEF", "transport": "DEF"})
    assert a.password is None and a.proxy is None and a.transport == -1


@pytest.mark.parametrize("params, name", [
    ({"username": "alice"}, "serveraddress"),
    ({"serveraddress": "exa mple.com", "username": "alice"}, "serveraddress"),
    ({"serveraddress": "example.com:99999", "username": "alice"}, "serveraddress"),
    ({"serveraddress": "bob@example.com", "username": "alice"}, "serveraddress"),
    ({"serveraddress": "example.com", "username": "al ice"}, "username"),
    ({"serveraddress": "example.com", "username": "alice", "md5": "xyz"}, "md5"),
    ({"serveraddress": "example.com", "username": "alice", "proxyaddress": "a b"},
     "proxyaddress"),
    ({"serveraddress": "example.com", "username": "alice", "transport": "7"}, "transport"),
    ({"serveraddress": "example.com", "username": "alice", "transport": "udp"}, "transport"),
    ({"serveraddress2": "example.com"}, "username2"),
    ({"username3": "bob"}, "serveraddress3"),
    ({"serveraddress2": "example.com", "username2": "bob", "registerinterval2": "0"},
     "registerinterval2"),
])
def test_errors_name_the_parameter(params, name):
    with pytest.raises(ValueError, match=name):
        accounts_from_params(params)


def test_ipv6_server():
    [a] = accounts_from_params({"serveraddress": "[2001:db8::1]:5070", "username": "alice"})
    assert a.domain == "[2001:db8::1]" and a.server_uri.port == 5070


def test_numbered_secondary_accounts():
    accounts = accounts_from_params({
        "serveraddress": "a.example", "username": "alice", "password": "pa",
        "proxyaddress": "proxy.example", "displayname": "Al", "transport": "2",
        "md5": HA1, "realm": "a-realm", "sipusername": "alice-auth",
        "serveraddress2": "b.example", "username2": "bob", "password2": "pb",
        "registerinterval2": "60",
        "serveraddress5": "c.example:5080", "username5": "carol"})
    assert [a.index for a in accounts] == [1, 2, 5]
    primary, b, c = accounts
    assert primary.proxy == "proxy.example"
    assert (b.server, b.username, b.password, b.register_interval) == ("b.example", "bob", "pb", 60)
    assert c.register_interval == DEFAULT_SECONDARY_INTERVAL == 3600
    assert c.password is None
    for sec in (b, c):
        assert sec.proxy is None                        # proxyaddress: primary only
        assert sec.displayname == "Al" and sec.transport == 2   # global parameters
        assert sec.ha1 is None and sec.realm is None and sec.authname is None
        assert not sec.is_primary


def test_secondary_without_primary():
    [b] = accounts_from_params({"serveraddress100": "b.example", "username100": "bob"})
    assert b.index == 100


def test_extraregisteraccounts():
    accounts = accounts_from_params({
        "serveraddress": "a.example", "username": "alice",
        "serveraddress3": "b.example", "username3": "bob",
        "extraregisteraccounts": "c.example,carol,pc,300; d.example:5070 , dave , pd ,  90 ;"
                                 "e.example,eve,pe;f.example,frank,,;"})
    assert [a.index for a in accounts] == [1, 3, 4, 5, 6, 7]
    c, d, e, f = accounts[2:]
    assert (c.server, c.username, c.password, c.register_interval) == \
        ("c.example", "carol", "pc", 300)
    assert (d.server, d.username, d.password, d.register_interval) == \
        ("d.example:5070", "dave", "pd", 90)
    assert e.register_interval == 3600          # ival optional, default one hour
    assert f.password is None and f.register_interval == 3600
    assert all(a.proxy is None for a in accounts[1:])


def test_extraregisteraccounts_without_primary_starts_at_2():
    accounts = parse_extra_accounts("x.example,u,p,5")
    assert accounts[0].index == 2 and accounts[0].register_interval == 120  # below 10 -> 120


@pytest.mark.parametrize("text, detail", [
    ("a.example,alice", "expected server,usr,pwd"),
    ("a.example,alice,pw,60,extra", "expected server,usr,pwd"),
    (",alice,pw", "empty server"),
    ("a.example,,pw", "empty username"),
    ("a.example,alice,pw,soon", "ival"),
    ("a.example,alice,pw,40000", "ival"),
    ("a.example,alice,pw;b ad,bob,pw", "account 2"),
])
def test_extraregisteraccounts_errors(text, detail):
    with pytest.raises(ValueError, match="extraregisteraccounts") as info:
        accounts_from_params({"extraregisteraccounts": text})
    assert detail in str(info.value)


def test_at_most_99_secondary_accounts():
    params = {f"serveraddress{n}": "s.example" for n in range(2, 101)}
    params.update({f"username{n}": f"u{n}" for n in range(2, 101)})
    assert len(accounts_from_params(params)) == 99
    with pytest.raises(ValueError, match="too many secondary accounts"):
        accounts_from_params({**params, "extraregisteraccounts": "x.example,u,p"})
    many = ";".join(f"s{n}.example,u{n},p" for n in range(100))
    with pytest.raises(ValueError, match="99"):
        accounts_from_params({"extraregisteraccounts": many})


def test_digest_client_from_account():
    [a] = accounts_from_params({"serveraddress": "example.com", "username": "alice",
                                "password": "pw", "sipusername": "auth", "realm": "r"})
    client = a.digest_client(lambda: "cn", authtype=1)
    assert client.auth_username == "auth" and client.realm == "r" and client.authtype == 1


# --------------------------------------------------------------------------- settings

def test_settings_defaults():
    s = RegistrationSettings.from_params({})
    assert s == RegistrationSettings()
    assert (s.register, s.acceptsrvexpire, s.needunregister, s.wait_for_unregister,
            s.use_rport, s.authtype) == (1, 1, True, 2.0, 1, 0)


def test_settings_from_params():
    s = RegistrationSettings.from_params({
        "register": "2", "acceptsrvexpire": "0", "needunregister": "false",
        "waitforunregister": "500", "use_rport": "9", "authtype": "2"}, unregister_all=True)
    assert (s.register, s.acceptsrvexpire, s.needunregister, s.wait_for_unregister,
            s.use_rport, s.authtype, s.unregister_all) == (2, 0, False, 0.5, 9, 2, True)


@pytest.mark.parametrize("params, name", [
    ({"register": "3"}, "register"), ({"acceptsrvexpire": "5"}, "acceptsrvexpire"),
    ({"needunregister": "maybe"}, "needunregister"),
    ({"waitforunregister": "-1"}, "waitforunregister"),
    ({"waitforunregister": "2s"}, "waitforunregister"), ({"use_rport": "4"}, "use_rport"),
    ({"authtype": "x"}, "authtype")])
def test_settings_errors(params, name):
    with pytest.raises(ValueError, match=name):
        RegistrationSettings.from_params(params)


def test_wants_registration():
    with_pw = Account("example.com", "alice", password="pw")
    with_ha1 = Account("example.com", "alice", ha1=HA1)
    bare = Account("example.com", "alice")
    auto = RegistrationSettings(register=1)
    assert auto.wants_registration(with_pw) and auto.wants_registration(with_ha1)
    assert not auto.wants_registration(bare)
    assert RegistrationSettings(register=2).wants_registration(bare)
    assert not RegistrationSettings(register=0).wants_registration(with_pw)
