"""Errors the public API raises (the Python API and, formatted as ``ERROR:`` answers, the
TCP API).

Each carries a message meant for the integrator: what was wrong and what to do instead.
"""
from __future__ import annotations

__all__ = ["ApiError", "BadArgument", "NotImplementedFeature", "HeadlessOnly",
           "NotStarted", "NoSuchLine"]


class ApiError(Exception):
    """A command could not be carried out; ``str(e)`` says why."""


class BadArgument(ApiError, ValueError):
    """An argument has the wrong type or value (``API_Call,abc`` ...)."""


class NotImplementedFeature(ApiError):
    """The function belongs to a feature that has not landed yet (transfer, chat ...)."""

    def __init__(self, feature: str) -> None:
        planned = "" if "roadmap" in feature else " is planned"
        super().__init__(f"not implemented yet ({feature}{planned}; see the README's "
                         "feature table)")
        self.feature = feature


class HeadlessOnly(ApiError):
    """The reference function opens a GUI; sipctl is headless. The message names the
    headless equivalent."""


class NotStarted(ApiError):
    """The engine or the SIP stack is not running (call ``API_Start`` first)."""


class NoSuchLine(ApiError):
    """The line number does not name a line with a call."""
