"""G.711 kernel: bit-exact against audioop and the NumPy reference, input handling, errors."""
from __future__ import annotations

import array
import warnings

import numpy as np
import pytest

from _media import g711
from _media.reference import g711 as ref

with warnings.catch_warnings():
    # audioop is deprecated in 3.11/3.12; on 3.13+ the audioop-lts package provides it.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

LAWS = ["ulaw", "alaw"]
ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)
AUDIOOP_ENCODE = {"ulaw": audioop.lin2ulaw, "alaw": audioop.lin2alaw}
AUDIOOP_DECODE = {"ulaw": audioop.ulaw2lin, "alaw": audioop.alaw2lin}
# Sign bit after the law's transmission inversion: decode(code ^ 0x80) == -decode(code).
SIGN_BIT = 0x80


def encode(law):
    return getattr(g711, f"{law}_encode")


def decode(law):
    return getattr(g711, f"{law}_decode")


def encode_into(law):
    return getattr(g711, f"{law}_encode_into")


def decode_into(law):
    return getattr(g711, f"{law}_decode_into")


def as_codes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def as_pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.int16)


def frame(n: int, seed: int = 711) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, n, dtype=np.int16)


# --- bit-exactness ----------------------------------------------------------

@pytest.mark.parametrize("law", LAWS)
def test_encode_every_int16_matches_audioop_and_reference(law):
    ours = as_codes(encode(law)(ALL_PCM))
    peer = as_codes(AUDIOOP_ENCODE[law](ALL_PCM.tobytes(), 2))
    np.testing.assert_array_equal(ours, peer)
    np.testing.assert_array_equal(ours, getattr(ref, f"{law}_encode")(ALL_PCM))


@pytest.mark.parametrize("law", LAWS)
def test_decode_every_code_matches_audioop_and_reference(law):
    ours = as_pcm(decode(law)(ALL_CODES.tobytes()))
    peer = as_pcm(AUDIOOP_DECODE[law](ALL_CODES.tobytes(), 2))
    np.testing.assert_array_equal(ours, peer)
    np.testing.assert_array_equal(ours, getattr(ref, f"{law}_decode")(ALL_CODES))


@pytest.mark.parametrize(
    ("law", "code", "value"),
    [
        # Fixed points of the G.711 tables (mu-law: 0xFF/0x7F are +/-0, 0x80/0x00 the peaks;
        # A-law: 0xD5/0x55 the smallest steps, 0xAA/0x2A the peaks).
        ("ulaw", 0xFF, 0), ("ulaw", 0x7F, 0), ("ulaw", 0x80, 32124), ("ulaw", 0x00, -32124),
        ("ulaw", 0xFE, 8), ("ulaw", 0x7E, -8),
        ("alaw", 0xD5, 8), ("alaw", 0x55, -8), ("alaw", 0xAA, 32256), ("alaw", 0x2A, -32256),
    ],
)
def test_decode_golden_values(law, code, value):
    assert as_pcm(decode(law)(bytes([code])))[0] == value


@pytest.mark.parametrize(
    ("law", "sample", "code"),
    [
        ("ulaw", 0, 0xFF), ("ulaw", 32767, 0x80), ("ulaw", -32768, 0x00),
        ("alaw", 0, 0xD5), ("alaw", -1, 0x55), ("alaw", 32767, 0xAA), ("alaw", -32768, 0x2A),
    ],
)
def test_encode_golden_values(law, sample, code):
    assert encode(law)(np.array([sample], dtype=np.int16)) == bytes([code])


# --- properties G.711 guarantees ------------------------------------------

@pytest.mark.parametrize("law", LAWS)
def test_reencoding_a_decoded_code_gives_the_code_back(law):
    codes = as_codes(encode(law)(decode(law)(ALL_CODES.tobytes())))
    expected = ALL_CODES.copy()
    if law == "ulaw":
        expected[0x7F] = 0xFF  # mu-law's negative zero decodes to 0, which encodes as +0
    np.testing.assert_array_equal(codes, expected)


@pytest.mark.parametrize("law", LAWS)
def test_decoding_is_odd_symmetric(law):
    values = as_pcm(decode(law)(ALL_CODES.tobytes())).astype(np.int32)
    np.testing.assert_array_equal(values[ALL_CODES ^ SIGN_BIT], -values)


@pytest.mark.parametrize(("law", "step0", "slack"), [("ulaw", 8, 3), ("alaw", 16, 0)])
def test_quantisation_is_monotonic_with_bounded_error(law, step0, slack):
    codes = as_codes(encode(law)(ALL_PCM))
    y = as_pcm(decode(law)(codes.tobytes())).astype(np.int32)
    x = ALL_PCM.astype(np.int32)
    assert np.all(np.diff(y) >= 0)
    # Segment (chord) of each code; mu-law's step doubles from segment 0, A-law's from 1.
    seg = ((codes ^ (0xFF if law == "ulaw" else 0xD5)) >> 4) & 0x07
    seg = seg.astype(np.int32)
    step = step0 << (seg if law == "ulaw" else np.maximum(seg - 1, 0))
    in_range = np.abs(x) <= np.abs(y).max()  # beyond the peak code the input is clipped
    err = np.abs(y - x)
    # mu-law drops 2 bits before quantising, so it may miss the mid-point by up to 3.
    assert np.all(err[in_range] <= step[in_range] // 2 + slack)
    assert err[~in_range].max() <= 32768 - np.abs(y).max()


@pytest.mark.parametrize("law", LAWS)
def test_chunked_equals_one_shot(law):
    # Stateless, no group delay: any framing gives the same stream.
    x = frame(1000)
    whole = encode(law)(x)
    assert b"".join(encode(law)(x[i:i + 7]) for i in range(0, len(x), 7)) == whole
    assert b"".join(decode(law)(whole[i:i + 13]) for i in range(0, len(whole), 13)) == \
        decode(law)(whole)


# --- accepted input types and edge lengths ------------------------------------

PCM_TYPES = {
    "ndarray": lambda x: x,
    "array": lambda x: array.array("h", x.tobytes()),
    "bytes": lambda x: x.tobytes(),
    "bytearray": lambda x: bytearray(x.tobytes()),
    "memoryview": lambda x: memoryview(x.tobytes()),
    "memoryview-int16": lambda x: memoryview(x),
    "memoryview-signed": lambda x: memoryview(x.tobytes()).cast("b"),
    "memoryview-char": lambda x: memoryview(x.tobytes()).cast("c"),
    "memoryview-unaligned": lambda x: memoryview(b"\0" + x.tobytes())[1:],
}
CODE_TYPES = {
    "ndarray": lambda c: c,
    "bytes": lambda c: c.tobytes(),
    "bytearray": lambda c: bytearray(c.tobytes()),
    "memoryview": lambda c: memoryview(c.tobytes()),
    "memoryview-unaligned": lambda c: memoryview(b"\0" + c.tobytes())[1:],
}
EDGE_LENGTHS = [0, 1, 159, 160, 161]


@pytest.mark.parametrize("n", EDGE_LENGTHS)
@pytest.mark.parametrize("kind", PCM_TYPES)
@pytest.mark.parametrize("law", LAWS)
def test_encode_accepts_every_pcm_type(law, kind, n):
    x = frame(n)
    out = encode(law)(PCM_TYPES[kind](x))
    assert type(out) is bytes and len(out) == n
    np.testing.assert_array_equal(as_codes(out), getattr(ref, f"{law}_encode")(x))


@pytest.mark.parametrize("n", EDGE_LENGTHS)
@pytest.mark.parametrize("kind", CODE_TYPES)
@pytest.mark.parametrize("law", LAWS)
def test_decode_accepts_every_code_type(law, kind, n):
    codes = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)
    out = decode(law)(CODE_TYPES[kind](codes))
    assert type(out) is bytes and len(out) == 2 * n
    np.testing.assert_array_equal(as_pcm(out), getattr(ref, f"{law}_decode")(codes))


@pytest.mark.parametrize("law", LAWS)
def test_empty_input_gives_empty_output(law):
    assert encode(law)(b"") == b""
    assert encode(law)(np.zeros(0, np.int16)) == b""
    assert decode(law)(b"") == b""
    assert encode_into(law)(b"", bytearray()) == 0
    assert decode_into(law)(b"", np.zeros(0, np.int16)) == 0


def test_two_dimensional_int16_is_encoded_in_memory_order():
    x = frame(320).reshape(160, 2)  # e.g. interleaved stereo
    assert g711.ulaw_encode(x) == g711.ulaw_encode(x.ravel())


# --- the _into variants ---------------------------------------------------------

@pytest.mark.parametrize("make_out", [lambda n: bytearray(b"\xaa" * n),
                                      lambda n: np.full(n, 0xAA, np.uint8),
                                      lambda n: memoryview(bytearray(b"\xaa" * n))],
                         ids=["bytearray", "ndarray", "memoryview"])
@pytest.mark.parametrize("law", LAWS)
def test_encode_into_writes_codes_and_leaves_the_rest(law, make_out):
    x = frame(161)
    out = make_out(170)
    assert encode_into(law)(x.tobytes(), out) == 161
    assert bytes(out[:161]) == encode(law)(x)
    assert bytes(out[161:]) == b"\xaa" * 9


@pytest.mark.parametrize("make_out", [lambda n: np.full(n, 7, np.int16),
                                      lambda n: array.array("h", [7] * n)],
                         ids=["ndarray", "array"])
@pytest.mark.parametrize("law", LAWS)
def test_decode_into_writes_samples_and_leaves_the_rest(law, make_out):
    codes = np.random.default_rng(3).integers(0, 256, 159, dtype=np.uint8).tobytes()
    out = make_out(165)
    assert decode_into(law)(codes, out) == 159
    np.testing.assert_array_equal(np.asarray(out[:159], np.int16), as_pcm(decode(law)(codes)))
    assert list(out[159:]) == [7] * 6


@pytest.mark.parametrize("law", LAWS)
def test_into_rejects_too_small_read_only_or_overlapping_out(law):
    x = frame(160)
    with pytest.raises(ValueError, match="holds 159 samples, need 160"):
        encode_into(law)(x, bytearray(159))
    with pytest.raises(ValueError, match="holds 159 samples, need 160"):
        decode_into(law)(bytes(160), np.zeros(159, np.int16))
    with pytest.raises(TypeError, match="writable"):
        encode_into(law)(x, bytes(160))
    ro = np.zeros(160, np.int16)
    ro.flags.writeable = False
    with pytest.raises(TypeError, match="writable"):
        decode_into(law)(bytes(160), ro)
    buf = bytearray(640)
    with pytest.raises(ValueError, match="overlap"):
        decode_into(law)(memoryview(buf)[:160], buf)
    with pytest.raises(ValueError, match="overlap"):
        encode_into(law)(memoryview(buf)[:320], buf)


@pytest.mark.parametrize("law", LAWS)
def test_into_rejects_wrong_out_type(law):
    with pytest.raises(TypeError, match="writable byte buffer"):
        encode_into(law)(frame(4), np.zeros(4, np.int16))
    with pytest.raises(TypeError, match="writable int16 buffer"):
        decode_into(law)(bytes(4), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="writable int16 buffer"):
        decode_into(law)(bytes(4), None)


# --- bad input --------------------------------------------------------------------

BAD_PCM = {
    "float32": np.zeros(4, np.float32),
    "int32": np.zeros(4, np.int32),
    "int8": np.zeros(4, np.int8),
    "uint16": np.zeros(4, np.uint16),
    "big-endian int16": np.zeros(4, np.dtype(">i2" if np.little_endian else "<i2")),
    "array('b')": array.array("b", [0, 0]),
    "str": "\x00\x00",
    "None": None,
    "int": 160,
}


def _encoders():
    for law in LAWS:
        yield pytest.param(encode(law), id=f"{law}_encode")
        yield pytest.param(lambda pcm, f=encode_into(law): f(pcm, bytearray(8)),
                           id=f"{law}_encode_into")


def _decoders():
    for law in LAWS:
        yield pytest.param(decode(law), id=f"{law}_decode")
        yield pytest.param(lambda data, f=decode_into(law): f(data, np.zeros(8, np.int16)),
                           id=f"{law}_decode_into")


@pytest.mark.parametrize("bad", list(BAD_PCM.values()), ids=list(BAD_PCM))
@pytest.mark.parametrize("fn", list(_encoders()))
def test_encode_rejects_wrong_type(fn, bad):
    with pytest.raises(TypeError, match="must be int16 samples"):
        fn(bad)


@pytest.mark.parametrize("make", [bytes, bytearray, lambda b: memoryview(bytes(b))],
                         ids=["bytes", "bytearray", "memoryview"])
@pytest.mark.parametrize("fn", list(_encoders()))
def test_encode_rejects_odd_length(fn, make):
    with pytest.raises(ValueError, match=r"odd length \(3 bytes\)"):
        fn(make(b"\x01\x02\x03"))


@pytest.mark.parametrize("fn", list(_encoders()))
def test_encode_rejects_non_contiguous(fn):
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(np.zeros(8, np.int16)[::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(memoryview(bytes(8))[::2])


BAD_CODES = {
    "int16": np.zeros(4, np.int16),
    "float32": np.zeros(4, np.float32),
    "int8": np.zeros(4, np.int8),
    "str": "\x00",
    "None": None,
    "int": 160,
}


@pytest.mark.parametrize("bad", list(BAD_CODES.values()), ids=list(BAD_CODES))
@pytest.mark.parametrize("fn", list(_decoders()))
def test_decode_rejects_wrong_type(fn, bad):
    with pytest.raises(TypeError, match="must be bytes-like G.711 codes"):
        fn(bad)


@pytest.mark.parametrize("fn", list(_decoders()))
def test_decode_rejects_non_contiguous(fn):
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(np.zeros(8, np.uint8)[::2])
