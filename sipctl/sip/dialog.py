"""Dialogs (RFC 3261 section 12): state, identifiers, route set, in-dialog requests.

A UAC builds a :class:`Dialog` with :meth:`Dialog.from_uac` from its request and a
1xx carrying a To tag (an early dialog) or a 2xx (confirmed); a UAS with
:meth:`Dialog.from_uas` from the request and the response it sends. The dialog then
builds requests (:meth:`Dialog.create_request`: CSeq, From/To tags, Request-URI and
Route for loose or strict routing, 12.2.1.1), checks incoming ones
(:meth:`Dialog.receive_request`: CSeq order, target refresh) and follows responses
(:meth:`Dialog.receive_response`). :class:`DialogSet` finds the dialog of an incoming
message and handles forked responses to one request.

Pure data manipulation: no I/O, no clock, no randomness (tags are the caller's).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from .addr import NameAddr
from .errors import LocalProtocolError, RemoteProtocolError
from .message import Request, Response
from .uri import SipUri, Uri
from .via import Via

__all__ = ["Dialog", "DialogId", "DialogSet", "EARLY", "CONFIRMED", "TERMINATED",
           "TARGET_REFRESH_METHODS", "DIALOG_CREATING_METHODS"]

EARLY = "early"
CONFIRMED = "confirmed"
TERMINATED = "terminated"

#: Requests (and their 2xx) that replace the remote target (RFC 3261, 3311, 3515, 6665).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
#: Requests outside a dialog whose responses create one.
DIALOG_CREATING_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
#: Parameters not allowed in a Request-URI (RFC 3261 19.1.1 table 1).
_NOT_IN_REQUEST_URI = frozenset({"method"})


@dataclass(frozen=True)
class DialogId:
    """Call-ID, local tag and remote tag (None for an RFC 2543 peer without tags)."""

    call_id: str
    local_tag: str
    remote_tag: str | None


def _plain(addr: NameAddr) -> NameAddr:
    return NameAddr(addr.uri, addr.display_name,
                    {k: v for k, v in addr.params.items() if k.lower() != "tag"})


def _require(value: Any, what: str) -> Any:
    if value is None:
        raise LocalProtocolError(f"message has no {what}")
    return value


class Dialog:
    """One dialog, seen from our side (``is_uac`` tells which side created it)."""

    def __init__(self, *, call_id: str, local_tag: str, remote_tag: str | None,
                 local_uri: NameAddr, remote_uri: NameAddr, remote_target: Uri,
                 route_set: Sequence[NameAddr] = (), local_seq: int | None = None,
                 remote_seq: int | None = None, secure: bool = False, state: str = CONFIRMED,
                 is_uac: bool = True, local_contact: NameAddr | None = None,
                 invite_seq: int | None = None) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = _plain(local_uri)
        self.remote_uri = _plain(remote_uri)
        self.remote_target = remote_target
        self.route_set: list[NameAddr] = list(route_set)
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        self.state = state
        self.is_uac = is_uac
        self.local_contact = local_contact
        #: CSeq number of the last INVITE we sent in this dialog (what an ACK for 2xx uses).
        self.invite_seq = invite_seq

    # -- creation -----------------------------------------------------------------------------
    @classmethod
    def from_uac(cls, request: Request, response: Response,
                 local_contact: NameAddr | None = None) -> Dialog:
        """The UAC's dialog from ``request`` and a 101-199 with To tag or a 2xx (12.1.2)."""
        status = response.status
        to = _require(response.to, "To")
        if not (100 < status < 300) or (status < 200 and to.tag is None):
            raise LocalProtocolError(f"a {status} response does not create a dialog")
        from_ = _require(request.from_, "From")
        cseq = _require(request.cseq, "CSeq")
        contacts = response.contact
        uri = request.uri
        if local_contact is None and request.contact:
            local_contact = request.contact[0]
        return cls(call_id=_require(request.call_id, "Call-ID"), local_tag=_require(from_.tag, "From tag"),
                   remote_tag=to.tag, local_uri=from_, remote_uri=to,
                   remote_target=contacts[0].uri if contacts else uri,
                   route_set=list(reversed(response.record_route)), local_seq=cseq.seq,
                   secure=isinstance(uri, SipUri) and uri.secure,
                   state=EARLY if status < 200 else CONFIRMED, is_uac=True,
                   local_contact=local_contact,
                   invite_seq=cseq.seq if request.method == "INVITE" else None)

    @classmethod
    def from_uas(cls, request: Request, response: Response,
                 local_contact: NameAddr | None = None) -> Dialog:
        """The UAS's dialog from ``request`` and the 101-199 or 2xx we answer it with (12.1.1).

        ``response`` must carry our To tag.
        """
        status = response.status
        to = _require(response.to, "To")
        if not (100 < status < 300) or to.tag is None:
            raise LocalProtocolError("a dialog needs a 101-299 response with a To tag")
        from_ = _require(request.from_, "From")
        cseq = _require(request.cseq, "CSeq")
        contacts = request.contact
        if not contacts:
            raise RemoteProtocolError(f"{request.method} without Contact cannot create a dialog")
        if local_contact is None and response.contact:
            local_contact = response.contact[0]
        uri = request.uri
        return cls(call_id=_require(request.call_id, "Call-ID"), local_tag=to.tag,
                   remote_tag=from_.tag, local_uri=to, remote_uri=from_,
                   remote_target=contacts[0].uri, route_set=list(request.record_route),
                   remote_seq=cseq.seq, secure=isinstance(uri, SipUri) and uri.secure,
                   state=EARLY if status < 200 else CONFIRMED, is_uac=False,
                   local_contact=local_contact)

    @property
    def id(self) -> DialogId:
        """The dialog ID."""
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    def __repr__(self) -> str:
        return f"<Dialog {self.call_id} {self.local_tag}/{self.remote_tag} {self.state}>"

    # -- requests we send ---------------------------------------------------------------------
    def create_request(self, method: str, *, headers: Sequence[tuple[str, Any]] = (),
                       body: bytes = b"", via: Via | str | None = None,
                       cseq: int | None = None) -> Request:
        """A request within the dialog (12.2.1.1).

        CSeq is the local sequence number plus one (1 when it was empty), except ACK,
        which carries the CSeq number of the INVITE it acknowledges (``invite_seq``, or
        ``cseq``). Route and Request-URI follow the route set: with none or a loose
        router first (``;lr``) the Request-URI is the remote target and the route set
        the Route; with a strict router first its URI becomes the Request-URI and the
        remote target the last Route. Target refresh requests carry ``local_contact``.
        ``via`` (for example the transport's sent-by, branch left to the transaction
        layer) is added first when given; ``headers`` are appended.
        """
        if method == "CANCEL":
            raise LocalProtocolError("CANCEL is built from the INVITE: use transaction.make_cancel")
        if self.state == TERMINATED:
            raise LocalProtocolError(f"dialog {self.call_id} is terminated")
        if method == "ACK":
            seq = cseq if cseq is not None else self.invite_seq
            if seq is None:
                raise LocalProtocolError("no INVITE to acknowledge in this dialog")
        else:
            seq = cseq if cseq is not None else (self.local_seq or 0) + 1
            if self.local_seq is not None and seq <= self.local_seq:
                raise LocalProtocolError("CSeq must increase within a dialog")
            self.local_seq = seq
            if method == "INVITE":
                self.invite_seq = seq
        uri, routes = self._target_and_routes()
        req = Request(method, uri)
        if via is not None:
            req.add("Via", via)
        req.add("Max-Forwards", "70")
        for route in routes:
            req.add("Route", route)
        req.add("From", self.local_uri.with_tag(self.local_tag))
        req.add("To", self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri)
        req.add("Call-ID", self.call_id)
        req.add("CSeq", f"{seq} {method}")
        if method in TARGET_REFRESH_METHODS and self.local_contact is not None:
            req.add("Contact", self.local_contact)
        for name, value in headers:
            req.add(name, value)
        req.body = bytes(body)
        return req

    def create_ack(self, *, body: bytes = b"", headers: Sequence[tuple[str, Any]] = (),
                   via: Via | str | None = None) -> Request:
        """The ACK for a 2xx to our last INVITE (13.2.2.4); send it without a transaction."""
        return self.create_request("ACK", headers=headers, body=body, via=via)

    def _target_and_routes(self) -> tuple[Uri, list[NameAddr]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0].uri
        if isinstance(first, SipUri) and not first.lr:  # strict router (12.2.1.1)
            params = {k: v for k, v in first.params.items() if k.lower() not in _NOT_IN_REQUEST_URI}
            uri = first.copy(params=params, headers=[])
            return uri, [*self.route_set[1:], NameAddr(self.remote_target)]
        return self.remote_target, list(self.route_set)

    # -- messages we receive / send -----------------------------------------------------------
    def receive_request(self, request: Request) -> None:
        """Check and apply an incoming in-dialog request (12.2.2).

        Raises :class:`RemoteProtocolError` with status 500 for a CSeq lower than the
        remote sequence number (481 on a terminated dialog); otherwise records the CSeq,
        refreshes the remote target from a target refresh request's Contact and
        terminates the dialog on BYE.
        """
        if self.state == TERMINATED:
            raise RemoteProtocolError("dialog is terminated", 481, "Call/Transaction Does Not Exist")
        cseq = request.cseq
        if cseq is None:
            raise RemoteProtocolError("request without CSeq")
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and cseq.seq < self.remote_seq:
                raise RemoteProtocolError(
                    f"CSeq {cseq.seq} lower than the remote sequence number {self.remote_seq}",
                    500, "Server Internal Error")
            self.remote_seq = cseq.seq
        if request.method in TARGET_REFRESH_METHODS and request.contact:
            self.remote_target = request.contact[0].uri
        if request.method == "BYE":
            self.state = TERMINATED

    def receive_response(self, response: Response) -> None:
        """Apply a response to a request we sent in (or to create) this dialog.

        2xx to INVITE confirms an early dialog and recomputes the route set (UAC);
        2xx to a target refresh replaces the remote target; 1xx updates an early
        dialog's target; 408/481 and any final response to BYE terminate the dialog,
        as does a 3xx-6xx to the INVITE of an early dialog (12.3).
        """
        cseq = response.cseq
        if cseq is None or response.status < 101 or self.state == TERMINATED:
            return
        method, status = cseq.method, response.status
        if method == "BYE" and status >= 200 or status in (408, 481):
            self.state = TERMINATED
            return
        if status >= 300:
            if method == "INVITE" and self.state == EARLY:
                self.state = TERMINATED
            return
        if status >= 200 and method == "INVITE" and self.state == EARLY:
            self.state = CONFIRMED
            if self.is_uac:
                self.route_set = list(reversed(response.record_route))
        if (status >= 200 or self.state == EARLY) and method in TARGET_REFRESH_METHODS and response.contact:
            self.remote_target = response.contact[0].uri

    def response_sent(self, response: Response) -> None:
        """UAS: our 2xx to the INVITE confirms an early dialog; a 3xx-6xx ends it."""
        cseq = response.cseq
        if cseq is None or cseq.method != "INVITE" or self.state != EARLY:
            return
        if 200 <= response.status < 300:
            self.state = CONFIRMED
        elif response.status >= 300:
            self.state = TERMINATED

    def terminate(self) -> None:
        """Move to the terminated state."""
        self.state = TERMINATED


class DialogSet:
    """The dialogs of a UA, found by the ID an incoming message names."""

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def __contains__(self, item: object) -> bool:
        key = item.id if isinstance(item, Dialog) else item
        return key in self._dialogs

    def add(self, dialog: Dialog) -> Dialog:
        """Add ``dialog`` (replacing one with the same ID)."""
        self._dialogs[dialog.id] = dialog
        return dialog

    def remove(self, dialog: Dialog | DialogId) -> None:
        """Forget a dialog (no error if unknown)."""
        self._dialogs.pop(dialog.id if isinstance(dialog, Dialog) else dialog, None)

    def get(self, dialog_id: DialogId) -> Dialog | None:
        """The dialog with this ID, or None."""
        return self._dialogs.get(dialog_id)

    def prune(self) -> list[Dialog]:
        """Remove and return the terminated dialogs."""
        gone = [d for d in self._dialogs.values() if d.state == TERMINATED]
        for d in gone:
            del self._dialogs[d.id]
        return gone

    def match_request(self, request: Request) -> Dialog | None:
        """The dialog of an incoming request: local tag = To tag, remote tag = From tag."""
        to, from_, call_id = request.to, request.from_, request.call_id
        if to is None or from_ is None or call_id is None or to.tag is None:
            return None
        return self._dialogs.get(DialogId(call_id, to.tag, from_.tag))

    def match_response(self, response: Response) -> Dialog | None:
        """The dialog of a response to our request: local tag = From tag, remote = To tag."""
        to, from_, call_id = response.to, response.from_, response.call_id
        if to is None or from_ is None or call_id is None or from_.tag is None:
            return None
        return self._dialogs.get(DialogId(call_id, from_.tag, to.tag))

    def early(self, call_id: str, local_tag: str) -> list[Dialog]:
        """The early dialogs created by our request with this Call-ID and From tag."""
        return [d for d in self._dialogs.values()
                if d.call_id == call_id and d.local_tag == local_tag and d.state == EARLY]

    def process_response(self, request: Request, response: Response,
                         local_contact: NameAddr | None = None) -> Dialog | None:
        """UAC: apply a response to ``request`` (dialog-creating or in-dialog).

        Updates the matching dialog, or creates one (a 1xx with To tag or a 2xx to an
        INVITE/SUBSCRIBE/REFER: each fork gets its own); a 3xx-6xx to a dialog-creating
        request terminates and removes the early dialogs it created (12.3). Returns the
        dialog concerned, or None.
        """
        dialog = self.match_response(response)
        creating = request.method in DIALOG_CREATING_METHODS and (
            request.to is None or request.to.tag is None)
        if creating and response.status >= 300:
            from_ = request.from_
            if request.call_id is not None and from_ is not None and from_.tag is not None:
                for d in self.early(request.call_id, from_.tag):
                    d.terminate()
                    self.remove(d)
            return dialog
        if dialog is not None:
            dialog.receive_response(response)
            return dialog
        if creating and 100 < response.status < 300 and (
                response.status >= 200 or (response.to is not None and response.to.tag)):
            return self.add(Dialog.from_uac(request, response, local_contact))
        return None
