"""Real SIP peers for interop tests: Kamailio (registrar/proxy with digest auth) and SIPp.

Import the fixtures you use into the test module (pytest picks fixtures up from the module
namespace)::

    from peers import kamailio_proxy, sipp_runner  # noqa: F401  (pytest fixtures)

Fixtures:
- ``kamailio_proxy``: a Kamailio shared by the module, with ``DEFAULT_USERS``; registrations
  accumulate across the module's tests, so use the user names your test owns.
- ``make_kamailio``: a factory ``make_kamailio(users=..., **Kamailio kwargs) -> Kamailio``
  (started) for tests that need their own instance (kill/restart, odd expires limits, ...).
- ``sipp_runner``: a ``Sipp`` whose runs live in a per-test temp dir.

Everything is stopped at teardown (and by atexit / parent-death signal if that never comes).
When a test using these fixtures fails, the peer's log path and tail are written to the
terminal and its files are kept. ``SIPCTL_KEEP_PEERS=1`` keeps the files of passing tests too.
"""
from __future__ import annotations

import sys
from typing import Callable, Iterator

import pytest

from .certs import CertPaths, make_test_certs
from .kamailio import (Kamailio, KamailioError, free_port, port_is_listening, sip_options,
                       sip_request)
from .sipp import SCENARIOS, Sipp, SippError, SippProcess, SippResult, TracedMessage
from .baresip import Baresip, BaresipError, make_baresip  # noqa: F401  (fixture)

__all__ = [
    "CertPaths", "make_test_certs",
    "Kamailio", "KamailioError", "free_port", "port_is_listening", "sip_options", "sip_request",
    "SCENARIOS", "Sipp", "SippError", "SippProcess", "SippResult", "TracedMessage",
    "DEFAULT_USERS", "kamailio_proxy", "make_kamailio", "sipp_runner",
]

DEFAULT_USERS: dict[str, str] = {
    "alice": "alice-secret",
    "bob": "bob-secret",
    "carol": "carol-secret",
}


def _report(request: pytest.FixtureRequest, text: str) -> None:
    """Write ``text`` to the terminal now, past output capturing."""
    pm = request.config.pluginmanager
    capman, tr = pm.getplugin("capturemanager"), pm.getplugin("terminalreporter")
    if capman is not None and tr is not None:
        with capman.global_and_fixture_disabled():
            tr.ensure_newline()
            tr.write_line(text)
    else:
        print(text, file=sys.stderr)


def _failed_since(request: pytest.FixtureRequest, before: int) -> bool:
    return request.session.testsfailed > before


def _module_kamailio(request: pytest.FixtureRequest) -> Kamailio:
    """One Kamailio per test module, closed when the module's tests are done.

    Kept on the module node (not in a module-scoped fixture) so that test modules only need
    to import ``kamailio_proxy`` itself.
    """
    node = request.node.getparent(pytest.Module) or request.session
    kam = getattr(node, "_sipctl_kamailio", None)
    if kam is None:
        kam = Kamailio(users=DEFAULT_USERS)
        try:
            kam.start()
        except BaseException:
            kam.keep_files = True
            kam.close()
            raise
        node._sipctl_kamailio = kam  # type: ignore[attr-defined]

        def fin() -> None:
            del node._sipctl_kamailio  # type: ignore[attr-defined]
            kam.close()
        node.addfinalizer(fin)
    elif not kam.running:
        kam.restart()  # an earlier test stopped or killed it
    return kam


@pytest.fixture
def kamailio_proxy(request: pytest.FixtureRequest) -> Iterator[Kamailio]:
    """The module's shared Kamailio (``DEFAULT_USERS``), restarted if a test left it down."""
    kam = _module_kamailio(request)
    before = request.session.testsfailed
    yield kam
    if _failed_since(request, before):
        kam.keep_files = True
        _report(request, f"\n[{request.node.nodeid}] {kam.describe(40)}")


@pytest.fixture
def make_kamailio(request: pytest.FixtureRequest) -> Iterator[Callable[..., Kamailio]]:
    """Factory for started Kamailio instances owned by the test (closed at teardown)."""
    made: list[Kamailio] = []
    before = request.session.testsfailed

    def make(users: dict[str, str] | None = None, **kwargs) -> Kamailio:
        kam = Kamailio(users=DEFAULT_USERS if users is None else users, **kwargs)
        made.append(kam)
        try:
            return kam.start()
        except BaseException:
            kam.keep_files = True
            raise

    yield make
    failed = _failed_since(request, before)
    for kam in made:
        if failed:
            kam.keep_files = True
            _report(request, f"\n[{request.node.nodeid}] {kam.describe(40)}")
        kam.close()


@pytest.fixture
def sipp_runner(request: pytest.FixtureRequest) -> Iterator[Sipp]:
    """A Sipp for the test; background runs are stopped and files removed at teardown."""
    sipp = Sipp()
    before = request.session.testsfailed
    try:
        yield sipp
    finally:
        if _failed_since(request, before):
            sipp.keep_files = True
            _report(request, f"\n[{request.node.nodeid}] sipp runs kept in {sipp.workdir}")
        sipp.close()
