"""_media.udpio against plain socket calls (the pure-Python reference behaviour)."""
from __future__ import annotations

import errno
import select
import socket
import time

import numpy as np
import pytest

from _media import rtp, udpio

MAX = 2048


def _udp(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return s


@pytest.fixture
def socks():
    made: list[socket.socket] = []

    def make(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
        made.append(_udp(family, host))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _settle() -> None:
    time.sleep(0.02)                    # loopback delivery is synchronous; be safe anyway


def reference_recv(sockets: list[socket.socket], max_datagram: int = MAX) -> list[tuple]:
    """What the kernel does, with socket.recvfrom: (fd, data, truncated, (host, port))."""
    out = []
    for s in sockets:
        while True:
            try:
                data, src = s.recvfrom(max_datagram + 1)
            except BlockingIOError:
                break
            except OSError:
                continue
            out.append((s.fileno(), data[:max_datagram], len(data) > max_datagram,
                        (src[0], src[1])))
    return out


def records(r: udpio.Receiver, n: int) -> list[tuple]:
    return [(int(r.fd[i]), r.data(i), bool(r.flags[i] & udpio.TRUNCATED), r.source(i))
            for i in range(n)]


def _payloads(k: int) -> list[bytes]:
    rng = np.random.default_rng(k)
    sizes = [0, 1, 11, 12, 172, 500, MAX - 1, MAX]
    return [bytes(rng.integers(0, 256, n, dtype=np.uint8)) for n in sizes]


@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"),
                                         (socket.AF_INET6, "::1")])
def test_recv_fds_equals_recvfrom(socks, family, host):
    rx = [socks(family, host) for _ in range(3)]
    tx = [socks(family, host) for _ in range(2)]
    r = udpio.Receiver(64, MAX)
    for rep in range(2):                # the kernel's turn, then the reference's
        for j, s in enumerate(rx):
            for p in _payloads(j):
                tx[j % 2].sendto(p, s.getsockname())
        _settle()
        if rep == 0:
            n = r.recv_fds(np.array([s.fileno() for s in rx], np.int32))
            got = records(r, n)
            assert r.errors == []
        else:
            want = reference_recv(rx)
    assert got == want
    assert len(got) == 3 * 8
    assert {src for _, _, _, src in got} == {s.getsockname()[:2] for s in tx}
    fam = 4 if family == socket.AF_INET else 6
    assert set(r.family[:len(got)].tolist()) == {fam}


def test_empty_sockets_eagain(socks):
    rx = [socks() for _ in range(4)]
    r = udpio.Receiver(8)
    assert r.recv_fds(np.array([s.fileno() for s in rx], np.int32)) == 0
    assert r.errors == [] and r.count == 0
    assert r.recv_fds(np.zeros(0, np.int32)) == 0
    assert reference_recv(rx) == []


def test_oversized_datagram_reported_not_crashing(socks):
    a, b = socks(), socks()
    big = bytes(range(256)) * 20                     # 5120 bytes
    b.sendto(big, a.getsockname())
    b.sendto(b"after", a.getsockname())
    b.sendto(big[:MAX + 1], a.getsockname())
    _settle()
    r = udpio.Receiver(16, MAX)
    n = r.recv_fds(np.array([a.fileno()], np.int32))
    assert n == 3
    assert records(r, n) == [(a.fileno(), big[:MAX], True, b.getsockname()),
                             (a.fileno(), b"after", False, b.getsockname()),
                             (a.fileno(), big[:MAX], True, b.getsockname())]
    assert r.length[:3].tolist() == [MAX, 5, MAX]


def test_small_slots_truncate_like_reference(socks):
    a, b = socks(), socks()
    for rep in range(2):
        for p in (b"x" * 7, b"y" * 8, b"z" * 9):
            b.sendto(p, a.getsockname())
        _settle()
        if rep == 0:
            r = udpio.Receiver(4, 8)
            got = records(r, r.recv_fds(np.array([a.fileno()], np.int32)))
        else:
            want = reference_recv([a], 8)
    assert got == want
    assert [t for _, _, t, _ in got] == [False, False, True]


def test_closed_and_invalid_fds(socks):
    a, b = socks(), socks()
    dead = socks()
    dead_fd = dead.fileno()
    dead.close()
    b.sendto(b"ok", a.getsockname())
    _settle()
    r = udpio.Receiver(8)
    n = r.recv_fds(np.array([-1, dead_fd, a.fileno()], np.int32))
    assert records(r, n) == [(a.fileno(), b"ok", False, b.getsockname())]
    assert r.errors == [(-1, errno.EBADF), (dead_fd, errno.EBADF)]
    with pytest.raises(OSError) as ei:
        socket.socket(fileno=dead_fd)
    assert ei.value.errno == errno.EBADF


def test_connection_refused_is_recorded_and_reading_goes_on(socks):
    a, b = socks(), socks()
    gone = socks()
    port = gone.getsockname()[1]
    gone.close()
    a.connect(("127.0.0.1", port))
    a.send(b"ping")                       # ICMP port unreachable -> pending ECONNREFUSED
    _settle()
    r = udpio.Receiver(8)
    assert r.recv_fds(np.array([a.fileno()], np.int32)) == 0
    assert r.errors == [(a.fileno(), errno.ECONNREFUSED)]
    a.send(b"ping")
    _settle()
    with pytest.raises(ConnectionRefusedError):  # the reference sees the same error
        a.recvfrom(16)


def test_capacity_full_then_rest_next_call(socks):
    a, b = socks(), socks()
    sent = [bytes([i]) * 20 for i in range(150)]
    for p in sent:
        b.sendto(p, a.getsockname())
    _settle()
    r = udpio.Receiver(64, 64)
    got = []
    while True:
        n = r.recv_fds(np.array([a.fileno()], np.int32))
        got += [r.data(i) for i in range(n)]
        if n < r.capacity:
            break
    assert got == sent


def test_rtp_header_fields_match_rtp_parse(socks):
    a, b = socks(), socks()
    pkts = [rtp.build(0, 65535, 0xFFFFFFFF, 0x12345678, b"\xff" * 160, marker=True),
            rtp.build(8, 7, 1234, 1, b"\xd5" * 80, csrcs=(1, 2), padding=4),
            rtp.build(101, 1, 2, 3, b"\x01\x02\x03\x04", extension=(0xBEDE, b"abcd")),
            rtp.build(13, 1, 2, 3),
            b"\x00" * 20, b"\x80\x00", b""]
    for p in pkts:
        b.sendto(p, a.getsockname())
    _settle()
    r = udpio.Receiver(16)
    n = r.recv_fds(np.array([a.fileno()], np.int32))
    assert n == len(pkts)
    for i, p in enumerate(pkts):
        code = rtp.validate(p)
        assert r.status[i] == code
        if code == 0:
            h = rtp.parse(p)
            assert (r.payload_type[i], bool(r.marker[i]), r.sequence[i], r.timestamp[i],
                    r.ssrc[i], r.payload_offset[i], r.payload_length[i]) == (
                h.payload_type, h.marker, h.sequence, h.timestamp, h.ssrc, h.payload_offset,
                h.payload_length)


def test_recv_epoll_reads_ready_fds(socks):
    rx = [socks() for _ in range(5)]
    tx = socks()
    ep = select.epoll()
    epfd = ep.fileno()
    try:
        for s in rx:
            ep.register(s.fileno(), select.EPOLLIN)
        for j, s in enumerate(rx[:3]):
            for k in range(j + 1):
                tx.sendto(bytes([j, k]), s.getsockname())
        _settle()
        r = udpio.Receiver(32)
        n = r.recv_epoll(ep.fileno())
        got = sorted(records(r, n))
        want = sorted((rx[j].fileno(), bytes([j, k]), False, tx.getsockname())
                      for j in range(3) for k in range(j + 1))
        assert got == want
        assert r.recv_epoll(ep.fileno()) == 0               # all drained
        assert ep.poll(0) == []
    finally:
        ep.close()
    with pytest.raises(OSError):
        r.recv_epoll(epfd)                                  # closed epoll fd


def test_source_and_data_index_checked(socks):
    r = udpio.Receiver(4)
    with pytest.raises(IndexError):
        r.source(0)
    with pytest.raises(IndexError):
        r.data(-1)
    with pytest.raises(ValueError):
        udpio.Receiver(0)


@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"),
                                         (socket.AF_INET6, "::1")])
def test_send_many_equals_sendto(socks, family, host):
    tx = [socks(family, host) for _ in range(2)]
    sinks = [socks(family, host) for _ in range(2)]
    items = []
    for k in range(10):             # runs of one fd (sendmmsg) and alternating fds (sendto)
        fd_i = 0 if k < 6 else k % 2
        items.append((tx[fd_i].fileno(), bytes([k]) * (k * 17), sinks[k % 2].getsockname()[:2]))
    for rep in range(2):
        if rep == 0:
            assert udpio.send_many(items) == []
        else:
            by_fd = {s.fileno(): s for s in tx}
            for fd, data, addr in items:
                by_fd[fd].sendto(data, addr)
        _settle()
        got = reference_recv(sinks)
        if rep == 0:
            first = got
    assert first == got
    assert len(got) == 10


def test_send_many_failures(socks):
    a, sink = socks(), socks()
    six = socks(socket.AF_INET6, "::1")
    dead = socks()
    dead_fd = dead.fileno()
    dead.close()
    dst = sink.getsockname()
    items = [(a.fileno(), b"1", dst),
             (a.fileno(), b"2", ("sink.invalid", 5)),        # not numeric: caller's job
             (a.fileno(), b"3", ("::1", dst[1])),            # v6 destination, v4 socket
             (dead_fd, b"4", dst),
             (six.fileno(), b"5", dst),                      # v4 destination, v6 socket
             (a.fileno(), b"6", dst)]
    failed = udpio.send_many(items)
    codes = dict(failed)
    assert sorted(codes) == [1, 2, 3, 4]
    assert codes[1] == 0
    assert codes[3] == errno.EBADF
    for i in (2, 4):                 # a plain sendto of the same item fails too (Python's
        fd, data, addr = items[i]    # getaddrinfo refuses the family before the syscall)
        s = a if fd == a.fileno() else six
        with pytest.raises(OSError):
            s.sendto(data, addr)
        assert codes[i] in (errno.EAFNOSUPPORT, errno.ENETUNREACH, errno.EINVAL)
    _settle()
    assert [d for _, d, _, _ in reference_recv([sink])] == [b"1", b"6"]


def test_send_many_rejects_bad_items(socks):
    a = socks()
    with pytest.raises(TypeError):
        udpio.send_many([(a.fileno(), bytearray(b"x"), ("127.0.0.1", 9))])
    with pytest.raises(TypeError):
        udpio.send_many([(a.fileno(), b"x")])
    assert udpio.send_many([]) == []


@pytest.mark.parametrize("count", [1, 3, 4, 5, 8, 67, 68, 69])
def test_batch_boundaries_read_everything_in_order(socks, count):
    """The first recvmmsg per fd asks for a few datagrams, the next ones for a full batch:
    counts around those sizes all come out complete and in order."""
    a, b, c = socks(), socks(), socks()
    sent = [bytes([i & 255, i >> 8]) * 10 for i in range(count)]
    for p in sent:
        b.sendto(p, a.getsockname())
        b.sendto(p[::-1], c.getsockname())
    _settle()
    r = udpio.Receiver(1024, 64)
    n = r.recv_fds(np.array([a.fileno(), c.fileno()], np.int32))
    assert n == 2 * count and r.errors == []
    assert [r.data(i) for i in range(n)] == sent + [p[::-1] for p in sent]
    assert r.fd[:n].tolist() == [a.fileno()] * count + [c.fileno()] * count
    assert all(r.source(i) == b.getsockname()[:2] for i in range(n))
