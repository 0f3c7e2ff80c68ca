"""Type stubs for the G.711 kernel (see g711.pyx for the full contract)."""
from typing_extensions import Buffer  # stub-only import; collections.abc.Buffer needs 3.12

__all__ = [
    "ulaw_encode", "alaw_encode", "ulaw_decode", "alaw_decode",
    "ulaw_encode_into", "alaw_encode_into", "ulaw_decode_into", "alaw_decode_into",
]

# Buffers are checked at run time: PCM must hold native-endian int16 items or be raw
# bytes of even length; codes and encode output are 1-byte buffers; decode output is int16.

def ulaw_encode(pcm: Buffer) -> bytes:
    """int16 PCM -> mu-law codes, one byte per sample (== audioop.lin2ulaw(pcm, 2))."""

def alaw_encode(pcm: Buffer) -> bytes:
    """int16 PCM -> A-law codes, one byte per sample (== audioop.lin2alaw(pcm, 2))."""

def ulaw_decode(data: Buffer) -> bytes:
    """mu-law codes -> native-endian int16 PCM bytes (== audioop.ulaw2lin(data, 2))."""

def alaw_decode(data: Buffer) -> bytes:
    """A-law codes -> native-endian int16 PCM bytes (== audioop.alaw2lin(data, 2))."""

def ulaw_encode_into(pcm: Buffer, out: Buffer) -> int:
    """Encode into the writable byte buffer ``out``; returns samples written."""

def alaw_encode_into(pcm: Buffer, out: Buffer) -> int:
    """Encode into the writable byte buffer ``out``; returns samples written."""

def ulaw_decode_into(data: Buffer, out: Buffer) -> int:
    """Decode into the writable int16 buffer ``out``; returns samples written."""

def alaw_decode_into(data: Buffer, out: Buffer) -> int:
    """Decode into the writable int16 buffer ``out``; returns samples written."""
