"""Registration state machine (sipctl.registration), sans-IO, against a scripted fake
registrar built from sipctl.sip.message and sipctl.sip.auth.verify, with a fake clock."""
import itertools

import pytest

from sipctl.accounts import Account, RegistrationSettings, accounts_from_params
from sipctl.registrar import Registrar
from sipctl.registration import (
    MAX_RESENDS,
    Registration,
    State,
    backoff_delay,
    refresh_delay,
)
from sipctl.registration_events import (
    Registered,
    RegisterFailed,
    Registering,
    SendRegister,
    Unregistered,
)
from sipctl.sip.addr import NameAddr
from sipctl.sip.auth import parse_authorization, verify
from sipctl.sip.errors import TransactionTimeout, TransportError
from sipctl.sip.message import Request, make_response, parse_message

CONTACT = "sip:alice@192.168.1.10:5060"


def tokens(prefix="t"):
    it = itertools.count(1)
    return lambda: f"{prefix}{next(it)}"


class FakeRegistrar:
    """A scripted registrar: digest auth (WWW or proxy), bindings, Min-Expires, max expiry,
    stale nonces, NAT (received/rport), and a queue of canned answers."""

    def __init__(self, users=None, realm="example.com", proxy=False, min_expires=None,
                 max_expires=None, received=None, header_expires=None):
        self.users = users if users is not None else {"alice": "secret"}
        self.realm = realm
        self.proxy = proxy
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.received = received                  # (host, port) the registrar "sees"
        self.header_expires = header_expires      # Expires header value in 2xx, if any
        self.bindings = {}                        # (aor user, contact uri text) -> expires
        self.requests = []
        self.script = []                          # canned statuses answered first
        self.stale_once = False
        self._nonces = itertools.count(1)
        self.nonce = None

    def _challenge(self, req, stale=False):
        self.nonce = f"n{next(self._nonces)}"
        status, name = (407, "Proxy-Authenticate") if self.proxy else (401, "WWW-Authenticate")
        value = f'Digest realm="{self.realm}", nonce="{self.nonce}", qop="auth", algorithm=MD5'
        if stale:
            value += ", stale=true"
        return self._reply(req, status, [(name, value)])

    def _reply(self, req, status, headers=(), reason=None):
        resp = make_response(req, status, reason, to_tag="reg", headers=list(headers))
        if self.received is not None:
            vias = req.via
            top = vias[0]
            top.params["received"] = self.received[0]
            if "rport" in top.params:
                top.params["rport"] = str(self.received[1])
            resp.headers.remove("Via")
            for via in reversed(vias):
                resp.add("Via", via, first=True)
        # every response goes over the wire: serialise and parse back
        return parse_message(resp.serialize())

    def handle(self, request):
        req = parse_message(request.serialize())
        assert isinstance(req, Request) and req.method == "REGISTER"
        self.requests.append(req)
        if self.script:
            status, headers = self.script.pop(0)
            return self._reply(req, status, headers)
        header = "Proxy-Authorization" if self.proxy else "Authorization"
        value = req.headers.get(header)
        user = req.to.uri.user
        if value is None or self.nonce is None:
            return self._challenge(req)
        cred = parse_authorization(value, header)
        if cred.nonce != self.nonce:
            return self._challenge(req)
        if not verify(value, "REGISTER", self.users.get(cred.username, "\0"),
                      realm=self.realm, uri=req.uri_text):
            return self._challenge(req)
        if self.stale_once:
            self.stale_once = False
            return self._challenge(req, stale=True)
        return self._bind(req, user)

    def _bind(self, req, user):
        if req.contact_is_star:
            for key in [k for k in self.bindings if k[0] == user]:
                del self.bindings[key]
            return self._reply(req, 200)
        [contact] = req.contact
        expires = contact.expires if contact.expires is not None else req.expires
        if expires and self.min_expires and expires < self.min_expires:
            return self._reply(req, 423, [("Min-Expires", str(self.min_expires))])
        if self.max_expires:
            expires = min(expires, self.max_expires)
        key = (user, str(contact.uri))
        if expires == 0:
            self.bindings.pop(key, None)
        else:
            self.bindings[key] = expires
        headers = [("Contact", str(NameAddr(uri, None, {"expires": str(e)})))
                   for (u, uri_text), e in self.bindings.items() if u == user
                   for uri in [parse_message(b"REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP h;"
                                             b"branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
                                             b"To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER"
                                             b"\r\n\r\n" % uri_text.encode()).uri]]
        if self.header_expires is not None:
            headers.append(("Expires", str(self.header_expires)))
        return self._reply(req, 200, headers)


def events(machine):
    out = []
    while (e := machine.next_event()) is not None:
        out.append(e)
    return out


class Net:
    """Delivers SendRegister events to fake registrars (by server) and feeds answers back."""

    def __init__(self, machine, registrars, now=0.0):
        self.machine = machine
        self.registrars = registrars if isinstance(registrars, dict) else {None: registrars}
        self.now = now
        self.log = []       # every event, in order
        self.lost = False   # drop requests (no answer)
        self.sent = []

    def pump(self):
        """Run until no REGISTER is waiting; returns the non-send events produced."""
        produced = []
        queue = events(self.machine)
        while queue:
            e = queue.pop(0)
            self.log.append(e)
            if isinstance(e, SendRegister):
                self.sent.append(e.request)
                if self.lost:
                    continue
                reg = self.registrars.get(e.account.server, self.registrars.get(None))
                assert self.machine.receive_response(reg.handle(e.request), self.now)
                queue += events(self.machine)
            else:
                produced.append(e)
        return produced

    def start(self):
        self.machine.start(self.now)
        return self.pump()

    def advance(self, to):
        self.now = to
        self.machine.handle_timer(self.now)
        return self.pump()


def make(account=None, settings=None, rand=lambda: 0.0, **kw):
    account = account or Account("example.com", "alice", password="secret", displayname="Alice")
    return Registration(account, CONTACT, new_token=tokens(), rand=rand,
                        settings=settings or RegistrationSettings(), **kw)


def types(evs):
    return [type(e) for e in evs]


# --------------------------------------------------------------------------- rules

def test_refresh_rule():
    assert refresh_delay(120) == 87
    assert refresh_delay(3600) == 3240
    assert refresh_delay(60) == 30
    assert refresh_delay(1) == 1
    assert all(refresh_delay(e) < e or e <= 1 for e in range(1, 5000))


def test_backoff_rule():
    s = RegistrationSettings()
    assert [backoff_delay(n, s) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1800, 1800]
    assert backoff_delay(1, s, 0.5) == 30 * (1 - 0.25 * 0.5)
    assert backoff_delay(1000, s, 0.999) >= 1800 * 0.75


# --------------------------------------------------------------------------- flows

def test_401_then_200_builds_rfc3261_register():
    reg, server = make(), FakeRegistrar()
    net = Net(reg, server)
    evs = net.start()
    assert types(net.log) == [Registering, SendRegister, SendRegister, Registered]
    first, second = (parse_message(r.serialize()) for r in server.requests)
    assert first.uri_text == "sip:example.com"
    assert str(first.from_.uri) == str(first.to.uri) == "sip:alice@example.com"
    assert first.from_.display_name == "Alice" and first.from_.tag
    assert first.to.tag is None
    assert first.cseq.seq == 1 and second.cseq.seq == 2 and second.cseq.method == "REGISTER"
    assert first.call_id == second.call_id == reg.call_id
    assert first.from_.tag == second.from_.tag
    assert first.via[0].branch != second.via[0].branch
    assert first.via[0].rport is True and first.via[0].transport == "UDP"
    assert first.max_forwards == 70
    assert str(first.contact[0].uri) == CONTACT and first.contact[0].expires == 120
    assert first.expires == 120
    assert "Authorization" not in first.headers and "Authorization" in second.headers
    [registered] = evs[1:]
    assert registered == Registered(reg.account, 120, reg.contact)
    assert reg.state is State.REGISTERED and reg.is_registered
    assert reg.expires_at == 120
    assert reg.get_timer() == refresh_delay(120)
    assert server.bindings == {("alice", CONTACT): 120}


def test_407_answered_with_proxy_authorization():
    reg, server = make(), FakeRegistrar(proxy=True)
    net = Net(reg, server)
    assert types(net.start()) == [Registering, Registered]
    assert "Proxy-Authorization" in server.requests[1].headers
    assert "Authorization" not in server.requests[1].headers


def test_authtype_forbids_answering():
    reg = make(settings=RegistrationSettings(authtype=2))       # only simple (401) auth
    net = Net(reg, FakeRegistrar(proxy=True))
    evs = net.start()
    assert types(evs) == [Registering, RegisterFailed]
    assert evs[1].status == 407 and "authtype" in evs[1].reason


def test_stale_nonce_is_retried_not_failed():
    reg, server = make(), FakeRegistrar()
    server.stale_once = True
    net = Net(reg, server)
    assert types(net.start()) == [Registering, Registered]
    assert len(server.requests) == 3
    assert [r.cseq.seq for r in server.requests] == [1, 2, 3]


def test_md5_ha1_and_sipusername():
    from sipctl.sip.auth import digest_ha1
    account = Account("example.com", "alice", ha1=digest_ha1("auth-alice", "example.com", "pw"),
                      authname="auth-alice")
    reg, server = make(account), FakeRegistrar(users={"auth-alice": "pw"})
    net = Net(reg, server)
    assert types(net.start()) == [Registering, Registered]
    answered = server.requests[1]
    assert parse_authorization(answered.headers.get("Authorization")).username == "auth-alice"
    assert answered.from_.uri.user == "alice"


def test_no_credentials_when_challenged():
    reg = make(Account("example.com", "alice"))
    evs = Net(reg, FakeRegistrar()).start()
    assert evs[1] == RegisterFailed(reg.account, 401, "no credentials", 30)


def test_wrong_password_fails_once_then_backs_off():
    reg, server = make(Account("example.com", "alice", password="wrong")), FakeRegistrar()
    net = Net(reg, server)
    evs = net.start()
    assert types(evs) == [Registering, RegisterFailed]
    failed = evs[1]
    assert (failed.status, failed.reason, failed.retry_in) == (401, "wrong credentials", 30)
    assert len(server.requests) == 2          # one answer, no loop
    assert reg.state is State.RETRY_WAIT and not reg.is_registered
    assert reg.get_timer() == 30
    # no re-send before the deadline
    assert net.advance(29.999) == [] and len(server.requests) == 2
    deadlines, t = [], 0.0
    for _ in range(9):
        t = reg.get_timer()
        evs = net.advance(t)
        assert types(evs) == [Registering, RegisterFailed]
        assert evs[1].reason == "wrong credentials"
        deadlines.append(reg.get_timer() - t)
    assert deadlines == [60, 120, 240, 480, 960, 1800, 1800, 1800, 1800]
    assert len(server.requests) == 2 * 10       # never more than 2 per attempt
    call_ids = {r.call_id for r in server.requests}
    assert call_ids == {reg.call_id}


def test_backoff_jitter_is_injected():
    draws = iter([0.0, 0.8, 0.4])
    reg = make(Account("example.com", "alice", password="wrong"), rand=lambda: next(draws))
    net = Net(reg, FakeRegistrar())
    assert net.start()[1].retry_in == 30
    assert net.advance(30)[1].retry_in == pytest.approx(60 * 0.8)
    assert net.advance(30 + 48)[1].retry_in == pytest.approx(120 * 0.9)


def test_forbidden_and_retry_after():
    reg, server = make(), FakeRegistrar()
    server.script = [(403, []), (503, [("Retry-After", "300")]), (500, [("Retry-After", "99999")])]
    net = Net(reg, server)
    evs = net.start()
    assert evs[1] == RegisterFailed(reg.account, 403, "Forbidden", 30)
    evs = net.advance(30)
    assert (evs[1].status, evs[1].reason, evs[1].retry_in) == (503, "Service Unavailable", 300)
    evs = net.advance(330)
    assert evs[1].retry_in == 1800            # Retry-After capped at the maximum backoff
    assert types(net.advance(2130)) == [Registering, Registered]
    assert reg.get_timer() == 2130 + 87


def test_interval_too_brief_retries_with_min_expires():
    reg, server = make(), FakeRegistrar(min_expires=600)
    net = Net(reg, server)
    evs = net.start()
    assert types(evs) == [Registering, Registered]
    assert evs[1].expires == 600
    last = server.requests[-1]
    assert last.expires == 600 and last.contact[0].expires == 600
    assert [r.cseq.seq for r in server.requests] == [1, 2, 3]
    assert reg.requested_expires == 600
    # the refresh keeps asking for the raised interval
    net.advance(reg.get_timer())
    assert server.requests[-1].expires == 600


def test_interval_too_brief_without_usable_min_expires_fails():
    reg, server = make(), FakeRegistrar()
    server.script = [(423, [("Min-Expires", "60")])]      # not larger than what we asked
    net = Net(reg, server)
    evs = net.start()
    assert types(evs) == [Registering, RegisterFailed] and evs[1].status == 423


def test_endless_challenges_are_bounded():
    reg, server = make(), FakeRegistrar()
    header = ("WWW-Authenticate", 'Digest realm="example.com", nonce="n{}", stale=true')
    server.script = [(401, [(header[0], header[1].format(i))]) for i in range(50)]
    net = Net(reg, server)
    evs = net.start()
    assert types(evs) == [Registering, RegisterFailed]
    assert evs[1].reason == "too many challenges"
    assert len(server.requests) == 1 + MAX_RESENDS


def test_server_expiry_shorter_than_asked_schedules_refresh():
    reg, server = make(), FakeRegistrar(max_expires=60)
    net = Net(reg, server)
    evs = net.start()
    assert evs[-1].expires == 60
    assert reg.get_timer() == 30 and reg.expires_at == 60


@pytest.mark.parametrize("mode, expected", [(0, 120), (1, 60), (2, 45)])
def test_acceptsrvexpire(mode, expected):
    reg = make(settings=RegistrationSettings(acceptsrvexpire=mode))
    net = Net(reg, FakeRegistrar(max_expires=60, header_expires=45))
    assert net.start()[-1].expires == expected


def test_contact_expires_of_other_bindings_ignored():
    reg, server = make(), FakeRegistrar(max_expires=100)
    server.bindings[("alice", "sip:alice@198.51.100.7")] = 20   # another device
    net = Net(reg, server)
    assert net.start()[-1].expires == 100


def test_refresh_keeps_call_id_and_increments_cseq():
    reg, server = make(), FakeRegistrar()
    net = Net(reg, server)
    net.start()
    evs = net.advance(86.9)
    assert evs == [] and len(server.requests) == 2
    evs = net.advance(87)
    assert types(evs) == [Registered]                         # no Registering on refresh
    refresh = server.requests[-1]
    assert len(server.requests) == 3                          # pre-emptive credentials
    assert refresh.call_id == server.requests[0].call_id
    assert refresh.cseq.seq == 3
    assert refresh.from_.tag == server.requests[0].from_.tag
    assert "Authorization" in refresh.headers
    assert parse_authorization(refresh.headers.get("Authorization")).nc == 2
    assert reg.get_timer() == 87 + 87
    net.advance(174)
    assert server.requests[-1].cseq.seq == 4


def test_expired_nonce_on_refresh_is_answered():
    reg, server = make(), FakeRegistrar()
    net = Net(reg, server)
    net.start()
    server.nonce = "rotated"           # the registrar forgot our nonce
    assert types(net.advance(87)) == [Registered]
    assert [r.cseq.seq for r in server.requests] == [1, 2, 3, 4]


def test_timeout_backs_off_and_retries():
    reg, server = make(), FakeRegistrar()
    net = Net(reg, server)
    net.lost = True
    net.start()
    assert reg.state is State.REGISTERING and reg.get_timer() is None
    reg.transaction_failed(TransactionTimeout("Timer F"), 32.0)
    evs = events(reg)
    assert evs == [RegisterFailed(reg.account, None, "timeout", 30)]
    assert reg.get_timer() == 62
    net.lost = False
    net.now = 62
    reg.handle_timer(62)
    assert types(net.pump()) == [Registering, Registered]


def test_transport_error_and_stale_reports():
    reg = make()
    reg.start(0)
    [_, send] = events(reg)
    other = Request("REGISTER", "sip:example.com", [("Call-ID", "x"), ("CSeq", "1 REGISTER")])
    assert not reg.transaction_failed("timeout", 1, request=other)
    assert reg.transaction_failed(TransportError("ECONNREFUSED"), 1, request=send.request)
    assert events(reg)[0].reason == "transport error"
    assert not reg.transaction_failed("timeout", 2)          # nothing in flight


def test_unrelated_and_provisional_responses():
    reg, server = make(), FakeRegistrar()
    reg.start(0)
    [_, send] = events(reg)
    trying = make_response(parse_message(send.request.serialize()), 100)
    assert reg.receive_response(trying, 0.1) and events(reg) == []
    stray = make_response(parse_message(send.request.serialize()), 200)
    stray.set("CSeq", "99 REGISTER")
    assert not reg.receive_response(stray, 0.2)
    assert reg.state is State.REGISTERING


def test_restart_uses_new_call_id():
    reg, server = make(), FakeRegistrar()
    net = Net(reg, server)
    net.start()
    old = reg.call_id
    assert types(net.start()) == [Registering, Registered]
    assert reg.call_id != old
    assert server.requests[-1].cseq.seq in (1, 2)


def test_rport_public_address_used_for_contact():
    reg, server = make(settings=RegistrationSettings(use_rport=2)), FakeRegistrar(
        received=("203.0.113.9", 40123))
    net = Net(reg, server)
    evs = net.start()
    assert reg.public_address == ("203.0.113.9", 40123)
    public = "sip:alice@203.0.113.9:40123"
    # the 401 already told us: the answered REGISTER carries the public contact
    assert str(server.requests[0].contact[0].uri) == CONTACT
    assert str(server.requests[1].contact[0].uri) == public
    assert str(evs[-1].contact) == public
    assert server.bindings == {("alice", public): 120}
    net.advance(87)
    sent = net.sent[-1]
    assert str(sent.contact[0].uri) == public
    assert sent.via[0].host == "192.168.1.10"       # Via keeps the local sent-by


def test_rport_mode_1_needs_two_agreeing_answers_and_9_never():
    reg = make(settings=RegistrationSettings(use_rport=1))
    net = Net(reg, FakeRegistrar(received=("203.0.113.9", 40123)))
    net.start()      # 401 and 200 both report it: two agreeing answers
    assert str(reg.current_contact) == "sip:alice@203.0.113.9:40123"
    reg9 = make(settings=RegistrationSettings(use_rport=9))
    Net(reg9, FakeRegistrar(received=("203.0.113.9", 40123))).start()
    assert reg9.public_address == ("203.0.113.9", 40123)
    assert str(reg9.current_contact) == CONTACT
    reg0 = make(settings=RegistrationSettings(use_rport=0))
    net0 = Net(reg0, FakeRegistrar())
    net0.start()
    assert net0.sent[0].via[0].rport is None


def test_outbound_proxy_route_and_transport():
    account = Account("example.com", "alice", password="secret", proxy="10.0.0.1:5065",
                      transport=1)
    reg = make(account)
    net = Net(reg, FakeRegistrar())
    net.start()
    sent = net.sent[0]
    assert str(sent.route[0].uri) == "sip:10.0.0.1:5065;lr"
    assert sent.via[0].transport == "TCP"


# --------------------------------------------------------------------------- unregister

def test_unregister_with_expires_zero():
    reg, server = make(), FakeRegistrar()
    net = Net(reg, server)
    net.start()
    reg.stop(10)
    evs = net.pump()
    assert evs == [Unregistered(reg.account, True, "")]
    unreg = server.requests[-1]
    assert unreg.expires == 0 and unreg.contact[0].expires == 0
    assert unreg.call_id == reg.call_id and unreg.cseq.seq == 3
    assert "Authorization" in unreg.headers
    assert server.bindings == {}
    assert reg.state is State.STOPPED and reg.get_timer() is None and not reg.is_registered


def test_unregister_contact_star():
    reg, server = make(settings=RegistrationSettings(unregister_all=True)), FakeRegistrar()
    net = Net(reg, server)
    net.start()
    reg.stop(10)
    assert types(net.pump()) == [Unregistered]
    assert server.requests[-1].contact_is_star and server.bindings == {}


def test_unregister_waits_at_most_waitforunregister():
    reg = make(settings=RegistrationSettings(wait_for_unregister=2.0))
    net = Net(reg, FakeRegistrar())
    net.start()
    net.lost = True
    reg.stop(10)
    net.pump()
    assert reg.state is State.UNREGISTERING and reg.get_timer() == 12
    assert net.advance(11.99) == []
    evs = net.advance(12)
    assert evs == [Unregistered(reg.account, False, "no answer within waitforunregister")]
    # a late answer is ignored
    late = make_response(parse_message(net.sent[-1].serialize()), 200)
    assert not reg.receive_response(late, 12.5)


def test_waitforunregister_zero_sends_without_waiting():
    reg = make(settings=RegistrationSettings(wait_for_unregister=0))
    net = Net(reg, FakeRegistrar())
    net.start()
    net.lost = True
    reg.stop(10)
    assert types(net.pump()) == [Unregistered]
    assert net.sent[-1].expires == 0
    assert net.log[-1].confirmed is False and reg.state is State.STOPPED


def test_needunregister_false_sends_nothing():
    reg = make(settings=RegistrationSettings(needunregister=False))
    net = Net(reg, FakeRegistrar())
    net.start()
    count = len(net.sent)
    reg.stop(10)
    assert types(net.pump()) == [Unregistered] and len(net.sent) == count


def test_stop_before_registered_sends_nothing():
    reg = make(Account("example.com", "alice", password="wrong"))
    net = Net(reg, FakeRegistrar())
    net.start()                           # failed, waiting to retry
    count = len(net.sent)
    reg.stop(5)
    assert net.pump() == [Unregistered(reg.account, True, "not registered")]
    assert len(net.sent) == count and reg.get_timer() is None
    reg.stop(6)                           # idempotent
    assert events(reg) == []


def test_stop_while_register_in_flight_unregisters_after_it():
    reg, server = make(), FakeRegistrar()
    reg.start(0)
    evs = events(reg)
    send = evs[-1]
    reg.stop(0.1)                         # REGISTER still in flight
    assert events(reg) == [] and reg.get_timer() == pytest.approx(2.1)
    assert reg.receive_response(server.handle(send.request), 0.2)   # 401
    assert [type(e) for e in events(reg)] == [Unregistered]          # nothing was bound


def test_stop_during_refresh_then_200_sends_unregister():
    reg, server = make(), FakeRegistrar()
    net = Net(reg, server)
    net.start()
    net.now = 87
    reg.handle_timer(87)
    [send] = events(reg)                  # the refresh, in flight
    reg.stop(87.5)
    assert reg.receive_response(server.handle(send.request), 87.6)
    net.now = 87.6
    evs = net.pump()
    assert evs == [Unregistered(reg.account, True, "")]
    assert server.requests[-1].expires == 0 and server.bindings == {}


# --------------------------------------------------------------------------- several accounts

def test_registrar_several_accounts_in_parallel():
    accounts = accounts_from_params({
        "serveraddress": "a.example", "username": "alice", "password": "pa",
        "registerinterval": "120",
        "serveraddress2": "b.example", "username2": "bob", "password2": "pb",
        "registerinterval2": "60",
        "extraregisteraccounts": "c.example,carol,pc"})
    servers = {"a.example": FakeRegistrar(users={"alice": "pa"}, realm="a.example"),
               "b.example": FakeRegistrar(users={"bob": "pb"}, realm="b.example"),
               "c.example": FakeRegistrar(users={"carol": "WRONG"}, realm="c.example")}
    registrar = Registrar(accounts, lambda a: f"sip:{a.username}@192.168.1.10:5060",
                          new_token=tokens())
    net = Net(registrar, servers)
    evs = net.start()
    summary = [(type(e).__name__, e.account.index) for e in evs]
    assert summary == [("Registering", 1), ("Registering", 2), ("Registering", 3),
                       ("Registered", 1), ("Registered", 2), ("RegisterFailed", 3)]
    assert registrar.is_registered(1) and registrar.is_registered(2)
    assert not registrar.is_registered(3) and not registrar.is_registered(9)
    assert {r.call_id for r in registrar.registrations} == {r.call_id for s in servers.values()
                                                            for r in s.requests}
    assert len({r.call_id for r in registrar.registrations}) == 3
    assert registrar.get_timer() == 30     # bob's 60 s binding refreshes first
    assert str(registrar[2].contact) == "sip:bob@192.168.1.10:5060"
    evs = net.advance(30)
    assert [(type(e).__name__, e.account.index) for e in evs] == [("Registering", 3),
                                                                  ("Registered", 2),
                                                                  ("RegisterFailed", 3)]
    stray = make_response(parse_message(net.sent[0].serialize()), 200)
    stray.set("Call-ID", "unknown")
    assert not registrar.receive_response(stray, 31)
    registrar.stop(40)
    evs = net.pump()
    assert sorted((type(e).__name__, e.account.index) for e in evs) == [
        ("Unregistered", 1), ("Unregistered", 2), ("Unregistered", 3)]
    assert all(not s.bindings for s in servers.values())
    assert registrar.get_timer() is None


def test_registrar_register_setting_and_remove():
    accounts = [Account("a.example", "alice", password="pa"), Account("b.example", "bob",
                                                                       index=2)]
    registrar = Registrar(accounts, CONTACT, new_token=tokens(),
                          settings=RegistrationSettings(register=1))
    registrar.start(0)
    sends = [e for e in events(registrar) if isinstance(e, SendRegister)]
    assert [e.account.index for e in sends] == [1]          # bob has no credentials
    registrar.start(0, index=2)                              # explicit start
    assert [type(e) for e in events(registrar)] == [Registering, SendRegister]
    assert registrar.transaction_failed(sends[0].request, TransactionTimeout("F"), 32)
    assert isinstance(events(registrar)[0], RegisterFailed)
    registrar.remove(1, 33)
    assert [type(e) for e in events(registrar)] == [Unregistered]
    assert [r.account.index for r in registrar.registrations] == [2]
    with pytest.raises(Exception, match="already"):
        registrar.add(Account("x.example", "bob", index=2))


@pytest.mark.parametrize("transport", [1, 2])
def test_rport_public_address_not_used_on_streams(transport):
    """Over TCP/TLS the received/rport is our ephemeral connection port: Contact unchanged."""
    name = {1: "tcp", 2: "tls"}[transport]
    contact = f"sip:alice@192.168.1.10:5060;transport={name}"
    account = Account("example.com", "alice", password="secret", transport=transport)
    reg = Registration(account, contact, new_token=tokens(),
                       settings=RegistrationSettings(use_rport=2))
    server = FakeRegistrar(received=("203.0.113.9", 40123))
    net = Net(reg, server)
    evs = net.start()
    assert reg.public_address == ("203.0.113.9", 40123)    # learned, but not applied
    assert str(reg.current_contact) == contact
    assert str(evs[-1].contact) == contact
    assert server.bindings == {("alice", contact): 120}
    assert all(str(r.contact[0].uri) == contact for r in server.requests)
    assert server.requests[0].via[0].transport == name.upper()


def test_rport_per_account_udp_and_tcp_in_one_registrar():
    """Mixed accounts: the UDP one adopts the public address, the TCP one does not."""
    accounts = [Account("a.example", "alice", password="pa", transport=0),
                Account("b.example", "bob", password="pb", transport=1, index=2)]
    contacts = {1: "sip:alice@192.168.1.10:5060",
                2: "sip:bob@192.168.1.10:5060;transport=tcp"}
    registrar = Registrar(accounts, lambda a: contacts[a.index], new_token=tokens(),
                          settings=RegistrationSettings(use_rport=2))
    servers = {"a.example": FakeRegistrar(users={"alice": "pa"}, received=("203.0.113.9", 1)),
               "b.example": FakeRegistrar(users={"bob": "pb"}, received=("203.0.113.9", 2))}
    net = Net(registrar, servers)
    net.start()
    assert str(registrar[1].current_contact) == "sip:alice@203.0.113.9:1"
    assert str(registrar[2].current_contact) == contacts[2]
    assert registrar[2].transport == "TCP" and registrar[2].public_address == ("203.0.113.9", 2)
    registrar.stop(10)
    net.pump()
    assert not servers["a.example"].bindings and not servers["b.example"].bindings


def test_refresh_now_and_set_contact():
    reg = make()
    net = Net(reg, FakeRegistrar())
    net.start()
    assert reg.state is State.REGISTERED
    call_id, cseq = reg.call_id, net.sent[-1].cseq.seq
    net.now = 5
    assert reg.refresh_now(5)
    assert types(net.pump()) == [Registered]
    assert net.sent[-1].call_id == call_id and net.sent[-1].cseq.seq == cseq + 1
    net.lost = True
    net.now = 6
    assert reg.refresh_now(6)
    net.pump()
    assert not reg.refresh_now(6)              # in flight: nothing more
    assert reg.transaction_failed(TransportError("down"), 6)
    assert reg.state is State.RETRY_WAIT
    assert not reg.refresh_now(7)              # backing off: no hammering
    reg.set_contact("sip:alice@192.168.1.10:5070;transport=tcp")
    assert reg.transport == "TCP" and reg.sent_by == "192.168.1.10:5070"
    net.lost = False
    net.advance(reg.get_timer())
    assert net.sent[-1].via[0].transport == "TCP"
    assert str(net.sent[-1].contact[0].uri) == "sip:alice@192.168.1.10:5070;transport=tcp"
    assert reg.state is State.REGISTERED
