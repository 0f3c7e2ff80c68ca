"""sipctl: an open SIP client SDK for Python with a compiled (Cython) media engine.

The media kernels live in the top-level :mod:`_media` package; the SIP control
plane, the TCP API service and the asyncio ``Phone`` API land in later releases.
"""
from sipctl._version import __version__

__all__ = ["__version__"]
