"""ITU-T G.711 mu-law and A-law encode/decode.

Stateless, sample-by-sample table lookups: no group delay, no history, so any
split of a stream into frames gives the same bytes as one call on the whole.
The tables are built once at import from Sun Microsystems' public-domain
``g711.c`` (the G.711 segment algorithm as CPython's ``audioop`` implements
it), so results are bit-exact with ``audioop.lin2ulaw/ulaw2lin/lin2alaw/alaw2lin``.

Accepted inputs (all must be C-contiguous):

* PCM (encode input): a buffer of native-endian int16 items (numpy ``int16``
  array, ``array('h')``, ``memoryview`` cast to ``'h'``), or raw bytes holding
  native-endian 16-bit PCM: ``bytes``, ``bytearray``, ``memoryview`` with format
  ``'B'``/``'b'``/``'c'``, or any other buffer of unsigned bytes (``'B'``/``'c'``).
  Raw PCM bytes must have an even length.
* Codes (decode input): ``bytes``, ``bytearray``, ``memoryview`` of bytes, or
  any buffer of unsigned bytes such as a numpy ``uint8`` array.

Arrays of other element types (float32, int32, int8, byte-swapped int16, ...)
raise ``TypeError``; the kernel never reinterprets them as bytes.
"""
from libc.string cimport memcpy
from cpython.buffer cimport (PyBUF_FORMAT, PyBUF_STRIDES, PyBuffer_IsContiguous,
                             PyBuffer_Release, PyObject_CheckBuffer, PyObject_GetBuffer)
from cpython.bytearray cimport PyByteArray_Check
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_Check, PyBytes_CheckExact,
                            PyBytes_FromStringAndSize, PyBytes_GET_SIZE)

from _media._types cimport int16_t, uint8_t, uint16_t

cdef extern from "Python.h":
    bint PyMemoryView_Check(object o)

__all__ = [
    "ulaw_encode", "alaw_encode", "ulaw_decode", "alaw_decode",
    "ulaw_encode_into", "alaw_encode_into", "ulaw_decode_into", "alaw_decode_into",
]

cdef enum:
    # Releasing and re-taking the GIL costs more than converting a 20 ms frame,
    # so only long blocks let other threads run while they convert.
    _NOGIL_MIN = 4096
    # Item kinds a buffer can hold.
    _NONE = 0
    _RAW = 1    # 1-byte items: raw bytes
    _INT16 = 2  # native-endian int16 samples


# ---------------------------------------------------------------------------
# Tables, built once from the scalar G.711 algorithm (Sun g711.c).

cdef uint8_t _ulaw_enc[65536]   # indexed by the uint16 bit pattern of the sample
cdef uint8_t _alaw_enc[65536]
cdef int16_t _ulaw_dec[256]
cdef int16_t _alaw_dec[256]


cdef int _segment(int val, const int* seg_end) noexcept nogil:
    """Index of the first segment whose end is >= val, or 8 past the last."""
    cdef int i
    for i in range(8):
        if val <= seg_end[i]:
            return i
    return 8


cdef uint8_t _linear2ulaw(int16_t sample) noexcept nogil:
    # Sun's g711.c works on 14-bit magnitudes: bias 0x84 >> 2, clip 32635 >> 2.
    # Negating after the arithmetic shift is what audioop does; G.191's one's
    # complement would differ on 508 negative inputs next to decision levels.
    cdef int[8] seg_end = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]
    cdef int pcm = sample >> 2
    cdef int mask, seg
    if pcm < 0:
        pcm = -pcm
        mask = 0x7F
    else:
        mask = 0xFF
    if pcm > 8159:
        pcm = 8159
    pcm += 0x84 >> 2
    seg = _segment(pcm, seg_end)
    if seg >= 8:
        return <uint8_t>(0x7F ^ mask)
    return <uint8_t>(((seg << 4) | ((pcm >> (seg + 1)) & 0x0F)) ^ mask)


cdef uint8_t _linear2alaw(int16_t sample) noexcept nogil:
    # 13-bit magnitudes; negative values use one's complement; even bits inverted (0x55).
    cdef int[8] seg_end = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
    cdef int pcm = sample >> 3
    cdef int mask, seg, aval
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = _segment(pcm, seg_end)
    if seg >= 8:
        return <uint8_t>(0x7F ^ mask)
    aval = seg << 4
    if seg < 2:
        aval |= (pcm >> 1) & 0x0F
    else:
        aval |= (pcm >> seg) & 0x0F
    return <uint8_t>(aval ^ mask)


cdef int16_t _ulaw2linear(uint8_t code) noexcept nogil:
    cdef int u = (~code) & 0xFF
    cdef int t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return <int16_t>((0x84 - t) if (u & 0x80) else (t - 0x84))


cdef int16_t _alaw2linear(uint8_t code) noexcept nogil:
    cdef int a = code ^ 0x55
    cdef int t = (a & 0x0F) << 4
    cdef int seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return <int16_t>(t if (a & 0x80) else -t)


cdef void _build_tables() noexcept nogil:
    cdef int i
    for i in range(65536):
        _ulaw_enc[i] = _linear2ulaw(<int16_t><uint16_t>i)
        _alaw_enc[i] = _linear2alaw(<int16_t><uint16_t>i)
    for i in range(256):
        _ulaw_dec[i] = _ulaw2linear(<uint8_t>i)
        _alaw_dec[i] = _alaw2linear(<uint8_t>i)


_build_tables()


# ---------------------------------------------------------------------------
# Loops. PCM is addressed as bytes and moved with memcpy because bytes-like
# input (e.g. memoryview(b)[1:]) may be unaligned; memcpy compiles to one load.

cdef inline void _encode(const uint8_t* table, const char* src, uint8_t* dst,
                         Py_ssize_t n) noexcept nogil:
    # Four samples per step: one 8-byte load and one 4-byte store instead of four each.
    cdef Py_ssize_t i = 0
    cdef uint16_t s[4]
    cdef uint8_t d[4]
    while i + 4 <= n:
        memcpy(s, src + 2 * i, 8)
        d[0] = table[s[0]]
        d[1] = table[s[1]]
        d[2] = table[s[2]]
        d[3] = table[s[3]]
        memcpy(dst + i, d, 4)
        i += 4
    while i < n:
        memcpy(s, src + 2 * i, 2)
        dst[i] = table[s[0]]
        i += 1


cdef inline void _decode(const int16_t* table, const uint8_t* src, char* dst,
                         Py_ssize_t n) noexcept nogil:
    # Two samples per 4-byte store: stores, not table loads, bound this loop.
    cdef Py_ssize_t i = 0
    cdef int16_t d[2]
    while i + 8 <= n:
        d[0] = table[src[i]]
        d[1] = table[src[i + 1]]
        memcpy(dst + 2 * i, d, 4)
        d[0] = table[src[i + 2]]
        d[1] = table[src[i + 3]]
        memcpy(dst + 2 * i + 4, d, 4)
        d[0] = table[src[i + 4]]
        d[1] = table[src[i + 5]]
        memcpy(dst + 2 * i + 8, d, 4)
        d[0] = table[src[i + 6]]
        d[1] = table[src[i + 7]]
        memcpy(dst + 2 * i + 12, d, 4)
        i += 8
    while i < n:
        memcpy(dst + 2 * i, &table[src[i]], 2)
        i += 1


cdef inline void _encode_gil(const uint8_t* table, const char* src, uint8_t* dst,
                             Py_ssize_t n) noexcept:
    # Called with the GIL held; hands it off only when the block is long enough.
    if n < _NOGIL_MIN:
        _encode(table, src, dst, n)
    else:
        with nogil:
            _encode(table, src, dst, n)


cdef inline void _decode_gil(const int16_t* table, const uint8_t* src, char* dst,
                             Py_ssize_t n) noexcept:
    if n < _NOGIL_MIN:
        _decode(table, src, dst, n)
    else:
        with nogil:
            _decode(table, src, dst, n)


cdef void ulaw_encode_buf(const int16_t* src, uint8_t* dst, Py_ssize_t n) noexcept nogil:
    _encode(_ulaw_enc, <const char*>src, dst, n)


cdef void alaw_encode_buf(const int16_t* src, uint8_t* dst, Py_ssize_t n) noexcept nogil:
    _encode(_alaw_enc, <const char*>src, dst, n)


cdef void ulaw_decode_buf(const uint8_t* src, int16_t* dst, Py_ssize_t n) noexcept nogil:
    _decode(_ulaw_dec, src, <char*>dst, n)


cdef void alaw_decode_buf(const uint8_t* src, int16_t* dst, Py_ssize_t n) noexcept nogil:
    _decode(_alaw_dec, src, <char*>dst, n)


# ---------------------------------------------------------------------------
# Buffer acquisition and validation (GIL held). The buffer protocol is used
# directly: a typed memoryview costs a few hundred ns per call, more than a
# 20 ms frame's loop.

cdef bint _little_endian():
    cdef uint16_t one = 1
    return (<uint8_t*>&one)[0] == 1


cdef char _NATIVE_ORDER = b'<' if _little_endian() else b'>'

# C-level so the hot path passes them without a module-dict lookup.
cdef str _PCM_TYPES = ("int16 samples (numpy int16 array, array('h')) or bytes-like "
              "native-endian 16-bit PCM (bytes, bytearray, memoryview)")
cdef str _CODE_TYPES = "bytes-like G.711 codes (bytes, bytearray, memoryview, numpy uint8 array)"


cdef int _item_kind(object obj, const Py_buffer* view) noexcept:
    """_INT16, _RAW or _NONE for an acquired buffer, from its struct format."""
    cdef const char* f = view.format
    cdef char c
    if f == NULL:  # exporters may omit the format: it then means 'B'
        return _RAW if view.itemsize == 1 else _NONE
    c = f[0]
    if c == b'@' or c == b'=' or c == _NATIVE_ORDER:
        f += 1
        c = f[0]
    if c == 0 or f[1] != 0:
        return _NONE
    if c == b'h' and view.itemsize == 2:
        return _INT16
    if view.itemsize == 1:
        if c == b'B' or c == b'c':
            return _RAW
        # Signed bytes count as raw only from byte containers: a numpy int8 array
        # or array('b') holds 8-bit samples, not PCM16 bytes.
        if c == b'b' and (PyBytes_Check(obj) or PyByteArray_Check(obj)
                          or PyMemoryView_Check(obj)):
            return _RAW
    return _NONE


cdef str _describe(object obj, const Py_buffer* view):
    """What the caller passed, for error messages."""
    dtype = getattr(obj, "dtype", None)
    if dtype is not None:
        return f"{type(obj).__name__} of dtype {dtype}"
    if view != NULL and view.format != NULL:
        return f"{type(obj).__name__} with item format {(<bytes>view.format).decode('ascii', 'replace')!r}"
    return type(obj).__name__


cdef int _acquire(object obj, Py_buffer* view, bint writable, str fn, str arg,
                  str expected) except -1:
    """Acquire a C-contiguous buffer with its format; on error nothing stays acquired."""
    if not PyObject_CheckBuffer(obj):
        raise TypeError(f"{fn}() argument '{arg}' must be {expected}, not {_describe(obj, NULL)}")
    PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT)
    if not PyBuffer_IsContiguous(view, b'C'):
        PyBuffer_Release(view)
        raise ValueError(f"{fn}() argument '{arg}' must be C-contiguous "
                         f"(use numpy.ascontiguousarray or bytes(...))")
    if writable and view.readonly:
        PyBuffer_Release(view)
        raise TypeError(f"{fn}() argument '{arg}' must be a writable buffer, "
                        f"not read-only {_describe(obj, NULL)}")
    return 0


cdef Py_ssize_t _odd(str fn, str arg, Py_ssize_t nbytes) except -1:
    raise ValueError(f"{fn}() argument '{arg}' has an odd length ({nbytes} bytes); "
                     f"16-bit PCM needs an even number of bytes")


cdef Py_ssize_t _get_pcm(object obj, Py_buffer* view, str fn) except -1:
    """Acquire int16 PCM; returns the number of samples."""
    cdef int kind
    cdef Py_ssize_t nbytes
    _acquire(obj, view, False, fn, "pcm", _PCM_TYPES)
    kind = _item_kind(obj, view)
    nbytes = view.len
    if kind == _INT16 or (kind == _RAW and not (nbytes & 1)):
        return nbytes >> 1
    # Describe before releasing: view.format belongs to the exporter.
    msg = f"{fn}() argument 'pcm' must be {_PCM_TYPES}, not {_describe(obj, view)}"
    PyBuffer_Release(view)
    if kind == _RAW:
        return _odd(fn, "pcm", nbytes)
    raise TypeError(msg)


cdef Py_ssize_t _get_bytes(object obj, Py_buffer* view, bint writable, str fn, str arg,
                           str expected) except -1:
    """Acquire a buffer of 1-byte items; returns its length."""
    _acquire(obj, view, writable, fn, arg, expected)
    if _item_kind(obj, view) == _RAW:
        return view.len
    msg = f"{fn}() argument '{arg}' must be {expected}, not {_describe(obj, view)}"
    PyBuffer_Release(view)
    raise TypeError(msg)


cdef Py_ssize_t _get_pcm_out(object obj, Py_buffer* view, str fn) except -1:
    """Acquire a writable int16 (or raw byte) buffer; returns its capacity in samples."""
    cdef str expected = "a writable int16 buffer (numpy int16 array, array('h'), bytearray)"
    _acquire(obj, view, True, fn, "out", expected)
    if _item_kind(obj, view) != _NONE:
        return view.len >> 1
    msg = f"{fn}() argument 'out' must be {expected}, not {_describe(obj, view)}"
    PyBuffer_Release(view)
    raise TypeError(msg)


cdef int _check_out(str fn, Py_ssize_t n, Py_ssize_t cap, const char* src, Py_ssize_t src_len,
                    const char* dst, Py_ssize_t dst_len) except -1:
    if cap < n:
        raise ValueError(f"{fn}() argument 'out' holds {cap} samples, need {n}")
    if n and src < dst + dst_len and dst < src + src_len:
        raise ValueError(f"{fn}() argument 'out' must not overlap the input")
    return 0


# ---------------------------------------------------------------------------
# Python API

cdef bytes _encode_obj(object pcm, const uint8_t* table, str fn):
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef const char* src
    cdef uint8_t* dst
    cdef bytes out
    if PyBytes_CheckExact(pcm):  # the common case: skip the buffer protocol
        n = PyBytes_GET_SIZE(pcm)
        if n & 1:
            _odd(fn, "pcm", n)
        n >>= 1
        out = PyBytes_FromStringAndSize(NULL, n)
        src = PyBytes_AS_STRING(pcm)
        dst = <uint8_t*>PyBytes_AS_STRING(out)
        _encode_gil(table, src, dst, n)
        return out
    n = _get_pcm(pcm, &view, fn)
    try:
        out = PyBytes_FromStringAndSize(NULL, n)
        src = <const char*>view.buf
        dst = <uint8_t*>PyBytes_AS_STRING(out)
        _encode_gil(table, src, dst, n)
    finally:
        PyBuffer_Release(&view)
    return out


cdef bytes _decode_obj(object data, const int16_t* table, str fn):
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef const uint8_t* src
    cdef char* dst
    cdef bytes out
    if PyBytes_CheckExact(data):
        n = PyBytes_GET_SIZE(data)
        out = PyBytes_FromStringAndSize(NULL, 2 * n)
        src = <const uint8_t*>PyBytes_AS_STRING(data)
        dst = PyBytes_AS_STRING(out)
        _decode_gil(table, src, dst, n)
        return out
    n = _get_bytes(data, &view, False, fn, "data", _CODE_TYPES)
    try:
        out = PyBytes_FromStringAndSize(NULL, 2 * n)
        src = <const uint8_t*>view.buf
        dst = PyBytes_AS_STRING(out)
        _decode_gil(table, src, dst, n)
    finally:
        PyBuffer_Release(&view)
    return out


cdef Py_ssize_t _encode_into(object pcm, object out, const uint8_t* table, str fn) except -1:
    cdef Py_buffer src, dst
    cdef Py_ssize_t n, cap
    n = _get_pcm(pcm, &src, fn)
    try:
        cap = _get_bytes(out, &dst, True, fn, "out",
                         "a writable byte buffer (bytearray, numpy uint8 array, memoryview)")
        try:
            _check_out(fn, n, cap, <const char*>src.buf, 2 * n, <const char*>dst.buf, n)
            _encode_gil(table, <const char*>src.buf, <uint8_t*>dst.buf, n)
        finally:
            PyBuffer_Release(&dst)
    finally:
        PyBuffer_Release(&src)
    return n


cdef Py_ssize_t _decode_into(object data, object out, const int16_t* table, str fn) except -1:
    cdef Py_buffer src, dst
    cdef Py_ssize_t n, cap
    n = _get_bytes(data, &src, False, fn, "data", _CODE_TYPES)
    try:
        cap = _get_pcm_out(out, &dst, fn)
        try:
            _check_out(fn, n, cap, <const char*>src.buf, n, <const char*>dst.buf, 2 * n)
            _decode_gil(table, <const uint8_t*>src.buf, <char*>dst.buf, n)
        finally:
            PyBuffer_Release(&dst)
    finally:
        PyBuffer_Release(&src)
    return n


def ulaw_encode(pcm):
    """Encode 16-bit PCM to G.711 mu-law; one code byte per sample.

    ``pcm``: C-contiguous int16 samples (numpy int16 array, ``array('h')``) or
    bytes-like native-endian PCM16 of even length. Returns ``bytes`` of
    ``len(samples)`` codes, identical to ``audioop.lin2ulaw(pcm, 2)``.
    Raises TypeError for other element types, ValueError for an odd byte
    length or a non-contiguous buffer.
    """
    return _encode_obj(pcm, _ulaw_enc, "ulaw_encode")


def alaw_encode(pcm):
    """Encode 16-bit PCM to G.711 A-law; one code byte per sample.

    Accepts the same input as :func:`ulaw_encode`; identical to
    ``audioop.lin2alaw(pcm, 2)``.
    """
    return _encode_obj(pcm, _alaw_enc, "alaw_encode")


def ulaw_decode(data):
    """Decode G.711 mu-law codes to native-endian int16 PCM returned as ``bytes``.

    ``data``: bytes-like codes (bytes, bytearray, memoryview, numpy uint8 array).
    Returns ``2 * len(data)`` bytes, identical to ``audioop.ulaw2lin(data, 2)``;
    view it with ``numpy.frombuffer(result, numpy.int16)`` if needed.
    """
    return _decode_obj(data, _ulaw_dec, "ulaw_decode")


def alaw_decode(data):
    """Decode G.711 A-law codes to native-endian int16 PCM returned as ``bytes``.

    Accepts the same input as :func:`ulaw_decode`; identical to
    ``audioop.alaw2lin(data, 2)``.
    """
    return _decode_obj(data, _alaw_dec, "alaw_decode")


def ulaw_encode_into(pcm, out):
    """Encode ``pcm`` to mu-law into the writable byte buffer ``out``; no allocation.

    ``out`` (bytearray, numpy uint8 array, writable memoryview) must hold at
    least one byte per sample and must not overlap ``pcm``; bytes past the
    last sample are left untouched. Returns the number of samples written.
    Raises ValueError if ``out`` is too small.
    """
    return _encode_into(pcm, out, _ulaw_enc, "ulaw_encode_into")


def alaw_encode_into(pcm, out):
    """Encode ``pcm`` to A-law into the writable byte buffer ``out``; no allocation.

    Same contract as :func:`ulaw_encode_into`.
    """
    return _encode_into(pcm, out, _alaw_enc, "alaw_encode_into")


def ulaw_decode_into(data, out):
    """Decode mu-law ``data`` into the writable int16 buffer ``out``; no allocation.

    ``out`` is a numpy int16 array or ``array('h')`` (a writable byte buffer
    counts as native-endian PCM16) with room for ``len(data)`` samples, not
    overlapping ``data``; samples past the end are left untouched. Returns the
    number of samples written. Raises ValueError if ``out`` is too small.
    """
    return _decode_into(data, out, _ulaw_dec, "ulaw_decode_into")


def alaw_decode_into(data, out):
    """Decode A-law ``data`` into the writable int16 buffer ``out``; no allocation.

    Same contract as :func:`ulaw_decode_into`.
    """
    return _decode_into(data, out, _alaw_dec, "alaw_decode_into")
