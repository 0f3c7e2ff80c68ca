"""SIP/SIPS/tel URIs: components, escaping, canonical form, RFC 3261 19.1.4 equivalence."""
import pytest

from sipctl.sip.errors import ParseError
from sipctl.sip.uri import AbsoluteUri, SipUri, TelUri, escape, parse_uri, unescape, USER_SAFE


def test_components():
    u = parse_uri("sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent")
    assert isinstance(u, SipUri)
    assert (u.scheme, u.user, u.password, u.host, u.port) == ("sips", "alice", "secret", "atlanta.example.com", 5061)
    assert u.params == {"transport": "tcp", "lr": None}
    assert u.transport == "tcp" and u.lr and u.secure
    assert u.headers == [("subject", "project x"), ("priority", "urgent")]


@pytest.mark.parametrize("text,host,port", [
    ("sip:[::1]", "[::1]", None),
    ("sip:user@[2001:db8::10]:5070", "[2001:db8::10]", 5070),
    ("sip:192.0.2.4", "192.0.2.4", None),
    ("sip:host.example.com.", "host.example.com.", None),
])
def test_hosts(text, host, port):
    u = parse_uri(text)
    assert (u.host, u.port) == (host, port)
    assert parse_uri(str(u)) == u


@pytest.mark.parametrize("bad", [
    "sip:user@[2001:db8::zz]", "sip:user@256.1.1.1", "sip:user@host:70000", "sip:us er@host",
    "sip:", "sip:user@", "<sip:user@host>", "sip:user@host;", "tel:1234", "no-scheme", "sip:a@-bad-.com",
])
def test_rejects(bad):
    with pytest.raises(ParseError):
        parse_uri(bad)


def test_escaping_round_trip():
    u = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert u.user == "sips:user@example.com"
    assert str(u) == "sip:sips%3Auser%40example.com@example.net"
    v = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert v.user == "caller" and v.params == {"lr": None, "name": "value%41"}  # not recursive
    assert parse_uri(str(v)) == v
    assert parse_uri("sip:null-%00-null@example.com").user == "null-\x00-null"
    assert str(SipUri("example.com", user="a b")) == "sip:a%20b@example.com"


def test_escape_helpers():
    assert unescape("%E2%82%AC") == "\u20ac"
    assert escape("\u20ac", USER_SAFE) == "%E2%82%AC"
    assert unescape("%ZZ") == "%ZZ"
    assert unescape(escape("\udcff", USER_SAFE)) == "\udcff"  # raw octets survive


def test_user_with_semicolon_and_password():
    u = parse_uri("sip:user;par=u%40example.net@example.com")
    assert u.user == "user;par=u@example.net" and u.params == {}
    u = parse_uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com")
    assert u.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert u.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"


# RFC 3261 19.1.4: equivalent and non-equivalent pairs.
@pytest.mark.parametrize("a,b", [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
    ("sip:user@[2001:db8:0:0::1]", "sip:user@[2001:DB8::1]"),
])
def test_equivalent(a, b):
    assert parse_uri(a) == parse_uri(b)
    assert hash(parse_uri(a)) == hash(parse_uri(b))


@pytest.mark.parametrize("a,b", [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:a@b", "sips:a@b"),
])
def test_not_equivalent(a, b):
    assert parse_uri(a) != parse_uri(b)


def test_tel_uri():
    t = parse_uri("tel:+1-201-555-0123;ext=1234")
    assert isinstance(t, TelUri) and t.is_global and t.digits == "+12015550123"
    assert t.param("EXT") == "1234"
    assert t == parse_uri("tel:+1.201.555.0123;ext=1234")
    local = parse_uri("tel:7042;phone-context=example.com")
    assert not local.is_global and local.phone_context == "example.com"
    assert parse_uri(str(local)) == local


def test_other_schemes():
    for text in ("soap.beep://192.0.2.103:3002", "isbn:2983792873", "http://www.example.com", "name:John_Smith"):
        u = parse_uri(text)
        assert isinstance(u, AbsoluteUri) and str(u).lower() == text.lower()


def test_copy_and_hostport():
    u = parse_uri("sip:alice@atlanta.com:5070;lr")
    v = u.copy(port=None)
    assert v.hostport == "atlanta.com" and u.port == 5070
    assert v.params == u.params and v.params is not u.params
