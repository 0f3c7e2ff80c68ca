"""Batched UDP socket I/O for the media thread: every readable datagram of a tick in one
call, every datagram to send in another, with the loops in C and the GIL released.

* :class:`Receiver` owns a preallocated buffer of ``capacity`` slots of ``max_datagram``
  bytes. :meth:`Receiver.recv_fds` reads every queued datagram of the given non-blocking
  fds (``recvmmsg`` until a short batch or EAGAIN); :meth:`Receiver.recv_epoll` polls an
  epoll fd (timeout 0) and reads the ready fds the same way, for up to ``rounds`` polls.
  Per datagram it records the fd, the length, a truncation flag (the datagram was longer
  than ``max_datagram``: :data:`TRUNCATED`, the slot holds its first bytes), the source
  (family, port, IPv4 as an int or the 16 IPv6 bytes; :meth:`Receiver.source` converts
  one to ``(host, port)``) and its RTP header (:mod:`_media.rtp` ``rtp_parse``: status
  0 for a valid RTP v2 packet, else the negative ``RtpError`` code).
  Read errors other than EAGAIN (ECONNREFUSED from an ICMP error, EBADF for a closed fd)
  are listed in :attr:`Receiver.errors` as ``(fd, errno)`` and never raise.
* :func:`send_many` sends a list of ``(fd, datagram, (host, port))`` with ``sendto``
  (``sendmmsg`` for consecutive datagrams of one fd) and returns the failures as
  ``(index, errno)``; errno 0 marks a destination that is not a numeric IPv4/IPv6
  address (the caller resolves and sends it itself).

The tests compare every call with the same work done by plain :mod:`socket` calls
(``tests/test_udpio.py``).
"""
import numpy as np

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_Check
from libc.errno cimport EAGAIN, EBADF, EINTR, errno
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

from _media._types cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from _media.rtp cimport rtp_header_t, rtp_parse

__all__ = ["Receiver", "send_many", "TRUNCATED", "AF_INET", "AF_INET6"]


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct sockaddr_storage:
        sa_family_t ss_family
    struct iovec:
        void* iov_base
        size_t iov_len
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    int recvmmsg(int fd, mmsghdr* msgvec, unsigned int vlen, int flags, void* timeout)
    int sendmmsg(int fd, mmsghdr* msgvec, unsigned int vlen, int flags)
    ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                   socklen_t addrlen)
    enum:
        c_AF_INET "AF_INET"
        c_AF_INET6 "AF_INET6"
        MSG_DONTWAIT
        MSG_TRUNC

cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        uint32_t s_addr
    struct in6_addr:
        uint8_t s6_addr[16]
    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id
    uint16_t htons(uint16_t)
    uint16_t ntohs(uint16_t)
    uint32_t ntohl(uint32_t)

cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int af, const char* src, void* dst)
    const char* inet_ntop(int af, const void* src, char* dst, socklen_t size)

cdef extern from "<sys/epoll.h>" nogil:
    union epoll_data_t:
        void* ptr
        int fd
        uint32_t u32
        uint64_t u64
    struct epoll_event:
        uint32_t events
        epoll_data_t data
    int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout)

AF_INET = c_AF_INET
AF_INET6 = c_AF_INET6
cdef enum:
    _TRUNCATED = 1
#: :attr:`Receiver.flags` bit: the datagram was longer than ``max_datagram``.
TRUNCATED = _TRUNCATED

cdef enum:
    _BATCH = 64           # datagrams per recvmmsg / sendmmsg call
    _FIRST_BATCH = 4      # datagrams asked for by the first recvmmsg on an fd
    _MAX_EVENTS = 1024    # epoll events per poll
    _MAX_ERRORS = 64      # errors recorded per call


cdef struct _rx_t:
    # caller-owned output (numpy arrays held by the Receiver)
    uint8_t* buf
    Py_ssize_t slot
    Py_ssize_t cap
    Py_ssize_t n
    int32_t* fd
    int32_t* length
    uint8_t* flags
    uint8_t* family
    int32_t* port
    uint32_t* ip4
    uint8_t* ip6            # 16 bytes per datagram
    int32_t* status
    int32_t* pt
    uint8_t* marker
    int32_t* seq
    uint32_t* ts
    uint32_t* ssrc
    int32_t* poff
    int32_t* plen
    # scratch
    mmsghdr* msgs
    iovec* iov
    sockaddr_storage* names
    epoll_event* events
    int32_t* err_fd
    int32_t* err_no
    int nerr


cdef void _record_error(_rx_t* r, int fd, int e) noexcept nogil:
    if r.nerr < _MAX_ERRORS:
        r.err_fd[r.nerr] = fd
        r.err_no[r.nerr] = e
        r.nerr += 1


cdef void _finish(_rx_t* r, Py_ssize_t i, int fd, const mmsghdr* m) noexcept nogil:
    """Fill the per-datagram records of slot i from its mmsghdr."""
    cdef const sockaddr_storage* sa = <const sockaddr_storage*>m.msg_hdr.msg_name
    cdef const sockaddr_in* a4
    cdef const sockaddr_in6* a6
    cdef rtp_header_t h
    cdef Py_ssize_t n = m.msg_len
    r.fd[i] = fd
    r.length[i] = <int32_t>n
    r.flags[i] = _TRUNCATED if (m.msg_hdr.msg_flags & MSG_TRUNC) else 0
    if sa.ss_family == c_AF_INET:
        a4 = <const sockaddr_in*>sa
        r.family[i] = 4
        r.port[i] = ntohs(a4.sin_port)
        r.ip4[i] = ntohl(a4.sin_addr.s_addr)
        memset(r.ip6 + 16 * i, 0, 16)
    elif sa.ss_family == c_AF_INET6:
        a6 = <const sockaddr_in6*>sa
        r.family[i] = 6
        r.port[i] = ntohs(a6.sin6_port)
        r.ip4[i] = 0
        memcpy(r.ip6 + 16 * i, &a6.sin6_addr, 16)
    else:
        r.family[i] = 0
        r.port[i] = 0
        r.ip4[i] = 0
        memset(r.ip6 + 16 * i, 0, 16)
    r.status[i] = rtp_parse(r.buf + i * r.slot, n, &h)
    r.pt[i] = h.payload_type
    r.marker[i] = h.marker
    r.seq[i] = h.sequence
    r.ts[i] = h.timestamp
    r.ssrc[i] = h.ssrc
    r.poff[i] = <int32_t>h.payload_offset
    r.plen[i] = <int32_t>h.payload_length


cdef void _init_msgs(_rx_t* r) noexcept nogil:
    """Point msgs[k] at names[k] and iov[k] once; _read_fd sets the per-call fields."""
    cdef int k
    memset(r.msgs, 0, _BATCH * sizeof(mmsghdr))
    for k in range(_BATCH):
        r.msgs[k].msg_hdr.msg_name = &r.names[k]
        r.msgs[k].msg_hdr.msg_iov = &r.iov[k]
        r.msgs[k].msg_hdr.msg_iovlen = 1


cdef int _read_fd(_rx_t* r, int fd) noexcept nogil:
    """Read fd until it is empty or the buffer is full. Returns 0, or 1 when full.

    The first recvmmsg asks for _FIRST_BATCH datagrams (a media socket usually holds one
    or two per tick: no need to set up 64 headers), the next ones for _BATCH."""
    cdef int k, got, want, retries = 0
    cdef int batch = _FIRST_BATCH
    cdef Py_ssize_t base
    while r.n < r.cap:
        want = <int>min(<Py_ssize_t>batch, r.cap - r.n)
        base = r.n
        for k in range(want):
            r.iov[k].iov_base = r.buf + (base + k) * r.slot
            r.iov[k].iov_len = <size_t>r.slot
            r.msgs[k].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
            r.msgs[k].msg_hdr.msg_flags = 0
        got = recvmmsg(fd, r.msgs, <unsigned int>want, MSG_DONTWAIT, NULL)
        if got < 0:
            if errno == EAGAIN:
                return 0
            if errno == EINTR and retries < 8:
                retries += 1
                continue
            _record_error(r, fd, errno)
            # ECONNREFUSED & co. are consumed by the failed call: the queue may hold more
            if retries < 8 and errno != EBADF:          # EBADF: nothing more to read
                retries += 1
                continue
            return 0
        for k in range(got):
            _finish(r, base + k, fd, &r.msgs[k])
        r.n += got
        if got < want:
            return 0                                # short batch: the queue is empty
        batch = _BATCH
    return 1


cdef class Receiver:
    """Preallocated receive buffers and per-datagram records (see the module docstring).

    Args:
        capacity: datagrams per call (the rest stays queued for the next call).
        max_datagram: slot size; longer datagrams are truncated and flagged.
    """
    cdef _rx_t r
    cdef readonly Py_ssize_t capacity
    cdef readonly Py_ssize_t max_datagram
    cdef readonly object buffer
    cdef readonly object fd, length, flags, family, port, ip4, ip6
    cdef readonly object status, payload_type, marker, sequence, timestamp, ssrc
    cdef readonly object payload_offset, payload_length
    cdef readonly list errors
    cdef object _err_fd, _err_no

    def __cinit__(self, Py_ssize_t capacity=1024, Py_ssize_t max_datagram=2048):
        memset(&self.r, 0, sizeof(_rx_t))
        if capacity < 1 or max_datagram < 1 or capacity * max_datagram > (1 << 30):
            raise ValueError(f"capacity {capacity} x max_datagram {max_datagram} out of range")
        self.capacity = capacity
        self.max_datagram = max_datagram
        self.r.msgs = <mmsghdr*>PyMem_Malloc(_BATCH * sizeof(mmsghdr))
        self.r.iov = <iovec*>PyMem_Malloc(_BATCH * sizeof(iovec))
        self.r.names = <sockaddr_storage*>PyMem_Malloc(_BATCH * sizeof(sockaddr_storage))
        self.r.events = <epoll_event*>PyMem_Malloc(_MAX_EVENTS * sizeof(epoll_event))
        if not (self.r.msgs and self.r.iov and self.r.names and self.r.events):
            raise MemoryError()
        _init_msgs(&self.r)
        self.buffer = bytearray(capacity * max_datagram)
        self.fd = np.zeros(capacity, np.int32)
        self.length = np.zeros(capacity, np.int32)
        self.flags = np.zeros(capacity, np.uint8)
        self.family = np.zeros(capacity, np.uint8)
        self.port = np.zeros(capacity, np.int32)
        self.ip4 = np.zeros(capacity, np.uint32)
        self.ip6 = np.zeros((capacity, 16), np.uint8)
        self.status = np.zeros(capacity, np.int32)
        self.payload_type = np.zeros(capacity, np.int32)
        self.marker = np.zeros(capacity, np.uint8)
        self.sequence = np.zeros(capacity, np.int32)
        self.timestamp = np.zeros(capacity, np.uint32)
        self.ssrc = np.zeros(capacity, np.uint32)
        self.payload_offset = np.zeros(capacity, np.int32)
        self.payload_length = np.zeros(capacity, np.int32)
        self._err_fd = np.zeros(_MAX_ERRORS, np.int32)
        self._err_no = np.zeros(_MAX_ERRORS, np.int32)
        self.errors = []
        self._bind()

    cdef void _bind(self):
        cdef uint8_t[::1] b = self.buffer
        cdef int32_t[::1] fd = self.fd, length = self.length, port = self.port
        cdef int32_t[::1] status = self.status, pt = self.payload_type, seq = self.sequence
        cdef int32_t[::1] poff = self.payload_offset, plen = self.payload_length
        cdef int32_t[::1] efd = self._err_fd, eno = self._err_no
        cdef uint8_t[::1] flags = self.flags, family = self.family, marker = self.marker
        cdef uint8_t[:, ::1] ip6 = self.ip6
        cdef uint32_t[::1] ip4 = self.ip4, ts = self.timestamp, ssrc = self.ssrc
        # the arrays live as long as self (readonly attributes, never rebound)
        self.r.buf = &b[0]
        self.r.slot = self.max_datagram
        self.r.cap = self.capacity
        self.r.fd = &fd[0]
        self.r.length = &length[0]
        self.r.flags = &flags[0]
        self.r.family = &family[0]
        self.r.port = &port[0]
        self.r.ip4 = &ip4[0]
        self.r.ip6 = &ip6[0, 0]
        self.r.status = &status[0]
        self.r.pt = &pt[0]
        self.r.marker = &marker[0]
        self.r.seq = &seq[0]
        self.r.ts = &ts[0]
        self.r.ssrc = &ssrc[0]
        self.r.poff = &poff[0]
        self.r.plen = &plen[0]
        self.r.err_fd = &efd[0]
        self.r.err_no = &eno[0]

    def __dealloc__(self):
        PyMem_Free(self.r.msgs)
        PyMem_Free(self.r.iov)
        PyMem_Free(self.r.names)
        PyMem_Free(self.r.events)

    cdef Py_ssize_t _done(self):
        cdef int k
        self.errors = [(self.r.err_fd[k], self.r.err_no[k]) for k in range(self.r.nerr)]
        return self.r.n

    def recv_fds(self, const int32_t[::1] fds not None) -> int:
        """Read every queued datagram of each fd (non-blocking sockets), in order.
        Returns the number of datagrams recorded (== capacity: call again)."""
        cdef Py_ssize_t i, nfds = fds.shape[0]
        self.r.n = 0
        self.r.nerr = 0
        with nogil:
            for i in range(nfds):
                if fds[i] < 0:
                    _record_error(&self.r, fds[i], EBADF)
                    continue
                if _read_fd(&self.r, fds[i]):
                    break
        return self._done()

    def recv_epoll(self, int epfd, int rounds=32) -> int:
        """Poll ``epfd`` (timeout 0; registered with ``data.fd`` = the fd, as
        :class:`select.epoll` does) and read every ready fd, up to ``rounds`` polls or
        until nothing is ready. Returns the number of datagrams recorded."""
        cdef int k, nev, rc = 0, e = 0
        cdef int rnd = 0
        cdef bint full = False
        self.r.n = 0
        self.r.nerr = 0
        with nogil:
            while rnd < rounds and not full:
                rnd += 1
                nev = epoll_wait(epfd, self.r.events, _MAX_EVENTS, 0)
                if nev < 0:
                    if errno == EINTR:
                        continue
                    rc = -1
                    e = errno
                    break
                if nev == 0:
                    break
                for k in range(nev):
                    if _read_fd(&self.r, self.r.events[k].data.fd):
                        full = True
                        break
        if rc < 0:
            raise OSError(e, f"epoll_wait(): errno {e}")
        return self._done()

    def source(self, Py_ssize_t i) -> tuple:
        """``(host, port)`` of datagram i, as ``socket.recvfrom`` gives the first two."""
        cdef char text[64]
        if not 0 <= i < self.r.n:
            raise IndexError(f"datagram {i} not in 0..{self.r.n - 1}")
        cdef uint32_t a
        if self.r.family[i] == 4:
            a = self.r.ip4[i]
            return (f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}", self.r.port[i])
        if self.r.family[i] == 6:
            if inet_ntop(c_AF_INET6, self.r.ip6 + 16 * i, text, sizeof(text)) == NULL:
                raise OSError(errno, "inet_ntop()")
            return ((<bytes>text).decode("ascii"), self.r.port[i])
        return ("", 0)

    def data(self, Py_ssize_t i) -> bytes:
        """The bytes of datagram i (its first ``max_datagram`` bytes if truncated)."""
        if not 0 <= i < self.r.n:
            raise IndexError(f"datagram {i} not in 0..{self.r.n - 1}")
        return PyBytes_FromStringAndSize(<char*>self.r.buf + i * self.r.slot, self.r.length[i])

    @property
    def count(self) -> int:
        """Datagrams recorded by the last call."""
        return self.r.n


cdef int _sockaddr(object addr, sockaddr_storage* out, socklen_t* outlen) except -1:
    """Numeric (host, port[, ...]) -> sockaddr. 1 on success, 0 if not numeric."""
    cdef const char* host
    cdef Py_ssize_t hlen
    cdef long port
    cdef sockaddr_in* a4 = <sockaddr_in*>out
    cdef sockaddr_in6* a6 = <sockaddr_in6*>out
    if not isinstance(addr, tuple) or len(<tuple>addr) < 2:
        return 0
    h = (<tuple>addr)[0]
    p = (<tuple>addr)[1]
    if not PyUnicode_Check(h) or type(p) is not int:
        return 0
    port = p
    if not 0 <= port <= 65535:
        return 0
    host = PyUnicode_AsUTF8AndSize(h, &hlen)
    memset(out, 0, sizeof(sockaddr_storage))
    if inet_pton(c_AF_INET, host, &a4.sin_addr) == 1:
        a4.sin_family = c_AF_INET
        a4.sin_port = htons(<uint16_t>port)
        outlen[0] = sizeof(sockaddr_in)
        return 1
    if inet_pton(c_AF_INET6, host, &a6.sin6_addr) == 1:
        a6.sin6_family = c_AF_INET6
        a6.sin6_port = htons(<uint16_t>port)
        outlen[0] = sizeof(sockaddr_in6)
        return 1
    return 0


def send_many(list items not None) -> list:
    """Send ``(fd, datagram: bytes, (host, port))`` items in order (nothing raises for a
    failed send). Returns ``[(index, errno)]`` for the items not sent; errno 0: the
    destination is not a numeric address (not attempted)."""
    cdef Py_ssize_t n = len(items), i, j, k, run
    cdef int fd, sent, e
    cdef list failed = []
    if n == 0:
        return failed
    cdef mmsghdr* msgs = <mmsghdr*>PyMem_Malloc(n * sizeof(mmsghdr))
    cdef iovec* iov = <iovec*>PyMem_Malloc(n * sizeof(iovec))
    cdef sockaddr_storage* names = <sockaddr_storage*>PyMem_Malloc(n * sizeof(sockaddr_storage))
    cdef int32_t* fds = <int32_t*>PyMem_Malloc(n * sizeof(int32_t))
    cdef int32_t* err = <int32_t*>PyMem_Malloc(n * sizeof(int32_t))
    cdef socklen_t alen
    if not (msgs and iov and names and fds and err):
        PyMem_Free(msgs); PyMem_Free(iov); PyMem_Free(names); PyMem_Free(fds); PyMem_Free(err)
        raise MemoryError()
    try:
        memset(msgs, 0, n * sizeof(mmsghdr))
        for i in range(n):
            it = items[i]
            if not isinstance(it, tuple) or len(<tuple>it) != 3:
                raise TypeError(f"items[{i}] must be (fd, bytes, (host, port))")
            data = (<tuple>it)[1]
            if not PyBytes_Check(data):
                raise TypeError(f"items[{i}]: datagram must be bytes, not {type(data).__name__}")
            fds[i] = (<tuple>it)[0]
            err[i] = -1
            if not _sockaddr((<tuple>it)[2], &names[i], &alen):
                err[i] = 0                     # not numeric: the caller sends it
                continue
            iov[i].iov_base = PyBytes_AS_STRING(data)
            iov[i].iov_len = <size_t>PyBytes_GET_SIZE(data)
            msgs[i].msg_hdr.msg_name = &names[i]
            msgs[i].msg_hdr.msg_namelen = alen
            msgs[i].msg_hdr.msg_iov = &iov[i]
            msgs[i].msg_hdr.msg_iovlen = 1
        # items keeps every datagram alive while the GIL is released
        with nogil:
            i = 0
            while i < n:
                if err[i] == 0:
                    i += 1
                    continue
                fd = fds[i]
                run = 1
                while i + run < n and fds[i + run] == fd and err[i + run] != 0 and run < _BATCH:
                    run += 1
                if run == 1:
                    if sendto(fd, iov[i].iov_base, iov[i].iov_len, MSG_DONTWAIT,
                              <sockaddr*>&names[i], msgs[i].msg_hdr.msg_namelen) < 0:
                        err[i] = errno
                    i += 1
                    continue
                sent = sendmmsg(fd, &msgs[i], <unsigned int>run, MSG_DONTWAIT)
                if sent < 0:
                    err[i] = errno
                    sent = 1                    # skip the failing one, go on with the rest
                i += sent
        for i in range(n):
            if err[i] >= 0:
                failed.append((i, err[i]))
        return failed
    finally:
        PyMem_Free(msgs)
        PyMem_Free(iov)
        PyMem_Free(names)
        PyMem_Free(fds)
        PyMem_Free(err)
