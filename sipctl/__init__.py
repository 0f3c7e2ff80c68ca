"""sipctl: an open SIP client SDK for Python with a compiled (Cython) media engine.

:class:`Phone` is the asyncio API (the Mizu VoIP SDK's functions in snake_case, typed
events); ``sipctl serve`` serves the same over the reference's TCP text API. The media
kernels live in the top-level :mod:`_media` package.
"""
from sipctl._version import __version__

__all__ = ["__version__", "Phone"]


def __getattr__(name: str):  # lazy: `import sipctl` stays light (no asyncio stack)
    if name == "Phone":
        from sipctl.phone import Phone
        return Phone
    raise AttributeError(f"module 'sipctl' has no attribute {name!r}")
