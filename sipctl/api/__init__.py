"""The TCP API (wire-compatible with the Mizu VoIP SDK's, port 18620): a sans-IO framing
codec (:mod:`~sipctl.api.framing`) and the command table that binds requests to ``Phone``
methods (:mod:`~sipctl.api.commands`)."""
from sipctl.api.commands import COMMANDS, ApiFunction, Param, bind, dispatch, find, is_known
from sipctl.api.framing import (ApiDecoder, ApiRequest, FramingError, format_answer,
                                format_error, format_notification)

__all__ = ["ApiDecoder", "ApiRequest", "FramingError", "format_answer", "format_error",
           "format_notification", "COMMANDS", "ApiFunction", "Param", "find", "is_known",
           "bind", "dispatch"]
