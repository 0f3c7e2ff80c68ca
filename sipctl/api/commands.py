"""The TCP API's command table and the binding of a request to a ``Phone`` method (no I/O).

:data:`COMMANDS` holds every function of the reference (parsed from
:mod:`sipctl.api.command_table`); :func:`bind` turns an :class:`ApiRequest`'s strings into
Python values; :func:`dispatch` calls the ``Phone`` and formats the answer, never raising.

Binding rules (the reference's examples are the spec):

* Trailing arguments may be omitted; an empty argument takes the default too.
* Simple form: values are stripped (``API_Call,-1, 123456 ``); if there are more pieces
  than parameters and the last parameter is a string, the extra pieces are re-joined with
  ``,`` (a chat text "Hello, world"); extra pieces that are all blank are ignored. In a
  multi-line parameter the word ``CRLF`` (and the spaces around it) is a line break.
* Encapsulated positional form: one BOFLINE item per parameter; extra items are joined with
  ``\\r\\n`` into a multi-line last parameter (``API_SetParameters`` with one item per
  parameter). String items are stripped, multi-line ones are kept verbatim.
* Encapsulated named form: ``name=value`` items bind by (case-insensitive) name; for a
  multi-line last parameter any other item is one more line of it, in order.
* ``bytes`` parameters (the reference's ``byte[]``) are base64, ``.``/``_`` for ``=``/``+``.
* A string argument starting with ``encrypted__`` is decoded by ``phone.decode_argument``.
"""
from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass

from sipctl.api.command_table import SIGNATURES
from sipctl.api.framing import ApiRequest, decode_bytes, format_answer, format_error
from sipctl.errors import ApiError, BadArgument, NotImplementedFeature

__all__ = ["Param", "ApiFunction", "COMMANDS", "REQUIRED", "find", "is_known", "bind", "dispatch"]

log = logging.getLogger("sipctl.api")

_CRLF_TOKEN = re.compile(r"\s*\bCRLF\b\s*")
_SIGNATURE = re.compile(r"(\w+) (API_\w+)\((.*)\)")
_PARAM = re.compile(r"(\w+) (\w+)(!)?(?:=([^*]*))?(\*)?")

#: The default of a parameter that may not be omitted (``!`` in the table).
REQUIRED = object()
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class Param:
    """One parameter: ``type`` is ``int``, ``str``, ``bool`` or ``bytes``."""

    name: str
    type: str
    default: object


@dataclass(frozen=True)
class ApiFunction:
    """One API function: its reference name, parameters, return type (``bool``, ``int``,
    ``str``, ``void`` or ``bytes``) and the ``Phone`` method that implements it.
    ``multiline``: the last (string) parameter may span lines."""

    name: str
    params: tuple[Param, ...]
    returns: str
    method: str
    multiline: bool = False


def _snake(name: str) -> str:
    # API_GetLastRecSIPMessage -> get_last_rec_sip_message; API_SetCredentialsMD5 -> ..._md5
    base = name[len("API_"):]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).lower()


def _default(ptype: str, pname: str, text: str | None) -> object:
    if ptype == "int":
        return int(text) if text is not None else (-1 if pname == "line" else 0)
    if ptype == "bool":
        return _BOOLS[text] if text is not None else False
    if ptype == "bytes":
        return b""
    return text if text is not None else ""


def _parse_table(text: str) -> dict[str, ApiFunction]:
    table: dict[str, ApiFunction] = {}
    for line in text.strip().splitlines():
        m = _SIGNATURE.fullmatch(line.strip())
        if not m:
            raise ValueError(f"bad signature in command_table: {line!r}")
        returns, name, plist = m.groups()
        params, multiline = [], False
        for chunk in filter(None, (c.strip() for c in plist.split(","))):
            pm = _PARAM.fullmatch(chunk)
            if not pm:
                raise ValueError(f"bad parameter {chunk!r} in {name}")
            ptype, pname, required, default, star = pm.groups()
            params.append(Param(pname, ptype,
                                REQUIRED if required else _default(ptype, pname, default)))
            multiline = bool(star)
        table[name.lower()] = ApiFunction(name, tuple(params), returns, _snake(name), multiline)
    return table


_BY_LOWER = _parse_table(SIGNATURES)

#: Every API function of the reference, keyed by its name (use :func:`find` to look up
#: case-insensitively).
COMMANDS: dict[str, ApiFunction] = {f.name: f for f in _BY_LOWER.values()}


def find(name: str) -> ApiFunction | None:
    """The function called ``name`` (case-insensitive), or None."""
    return _BY_LOWER.get(name.strip().lower())


def is_known(name: str) -> bool:
    """Whether ``name`` is an API function (the decoder's ``known`` callback)."""
    return name.strip().lower() in _BY_LOWER


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _convert(fn: ApiFunction, p: Param, raw: str, verbatim: bool) -> object:
    text = raw.strip()
    if not text:
        return p.default
    if p.type == "int":
        try:
            return int(text, 10)
        except ValueError:
            raise BadArgument(f"argument '{p.name}' of {fn.name} must be an integer, "
                              f"got {_short(text)}") from None
    if p.type == "bool":
        try:
            return _BOOLS[text.lower()]
        except KeyError:
            raise BadArgument(f"argument '{p.name}' of {fn.name} must be true or false "
                              f"(or 1/0, yes/no), got {_short(text)}") from None
    if p.type == "bytes":
        try:
            return decode_bytes(text)
        except ValueError:
            raise BadArgument(f"argument '{p.name}' of {fn.name} must be base64 (with '.' "
                              f"for '=' and '_' for '+'), got {_short(text)}") from None
    return raw if verbatim else text


def _arity_error(fn: ApiFunction, got: int) -> BadArgument:
    if not fn.params:
        return BadArgument(f"{fn.name} takes no arguments, got {got}")
    names = ", ".join(p.name for p in fn.params)
    return BadArgument(f"{fn.name} takes at most {len(fn.params)} arguments ({names}), "
                       f"got {got}")


def _bind_positional(fn: ApiFunction, req: ApiRequest) -> list[str | None]:
    n = len(fn.params)
    pieces: list[str | None] = list(req.args)
    if len(pieces) > n:
        extra = pieces[n:]
        last = fn.params[-1] if fn.params else None
        if all(not (x or "").strip() for x in extra):
            pieces = pieces[:n]
        elif req.form == "simple" and last is not None and last.type == "str":
            pieces = pieces[:n - 1] + [",".join(x or "" for x in pieces[n - 1:])]
        elif req.form == "encapsulated" and fn.multiline:
            pieces = pieces[:n - 1] + ["\r\n".join(x or "" for x in pieces[n - 1:])]
        else:
            raise _arity_error(fn, len(req.args))
    return pieces + [None] * (n - len(pieces))


def _bind_named(fn: ApiFunction, req: ApiRequest) -> list[str | None]:
    by_name = {p.name.lower(): i for i, p in enumerate(fn.params)}
    values: list[str | None] = [None] * len(fn.params)
    lines: list[str] = []  # the multi-line last parameter, in order
    last = len(fn.params) - 1
    for item in req.args:
        key, eq, value = item.partition("=")
        i = by_name.get(key.strip().lower()) if eq else None
        if i is not None and fn.multiline and i == last:
            lines.append(value)
        elif i is not None:
            if values[i] is not None:
                raise BadArgument(f"argument '{fn.params[i].name}' of {fn.name} given twice")
            values[i] = value
        elif fn.multiline:
            lines.append(item)
        elif not item.strip():
            continue
        else:
            names = ", ".join(p.name for p in fn.params) or "none"
            what = f"argument {key.strip()!r}" if eq else f"item {_short(item)}"
            raise BadArgument(f"{fn.name} has no {what}: expected name=value items "
                              f"(arguments: {names})")
    if lines:
        values[last] = "\r\n".join(lines)
    return values


def bind(fn: ApiFunction, req: ApiRequest) -> list[object]:
    """Convert ``req``'s argument strings to the values ``fn``'s method takes (defaults for
    what is missing). Raises :class:`sipctl.errors.BadArgument`."""
    if req.form == "encapsulated" and req.named:
        raws = _bind_named(fn, req)
    else:
        raws = _bind_positional(fn, req)
    verbatim = req.form == "encapsulated"
    out: list[object] = []
    for i, (p, raw) in enumerate(zip(fn.params, raws)):
        if raw is None:
            if p.default is REQUIRED:
                names = ", ".join(q.name for q in fn.params)
                raise BadArgument(f"{fn.name} needs its argument '{p.name}' ({fn.name}({names}))")
            out.append(p.default)
            continue
        multiline = fn.multiline and i == len(fn.params) - 1
        value = _convert(fn, p, raw, verbatim and multiline)
        if multiline and req.form == "simple" and isinstance(value, str):
            value = _CRLF_TOKEN.sub("\r\n", value)
        out.append(value)
    return out


async def _maybe_await(value: object) -> object:
    if inspect.isawaitable(value):
        return await value
    return value


async def _decode_encrypted(phone: object, args: list[object]) -> list[object]:
    out = []
    for a in args:
        if isinstance(a, str) and a.startswith("encrypted__"):
            decode = getattr(phone, "decode_argument", None)
            if decode is None:
                raise BadArgument("encrypted arguments are not supported by this phone")
            a = await _maybe_await(decode(a))
        out.append(a)
    return out


async def dispatch(phone: object, req: ApiRequest) -> bytes:
    """Run ``req`` on ``phone`` and return the answer bytes; errors become ``ERROR:``
    answers (never raises, except cancellation)."""
    fn = find(req.name)
    if fn is None:
        return format_error(req, f"unknown function '{req.name}'; see the reference's API list")
    try:
        args = await _decode_encrypted(phone, bind(fn, req))
        method = getattr(phone, fn.method, None)
        if method is None:
            raise NotImplementedFeature(fn.name)
        value = await _maybe_await(method(*args))
        return format_answer(req, value, fn.returns)
    except ApiError as e:
        return format_error(req, str(e))
    except Exception as e:
        log.exception("API %s failed (request %r)", fn.name, req.raw[:80])
        return format_error(req, f"internal error ({type(e).__name__}: {e})")
