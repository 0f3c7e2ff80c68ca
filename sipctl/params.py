"""The parameter store: one :class:`Parameters` per phone, read and written by the TCP API
(``API_SetParameter(s)``), the ``wpcfg.ini`` file, ``x-mparam`` headers and the Python API.

Values are kept as strings (as the reference passes them) and checked against the table in
:mod:`sipctl.params_table` when set:

* ``DEF`` puts a parameter back to its default; ``NULL`` means empty for strings and the
  default for other types (both case-insensitive, as :mod:`sipctl.accounts` reads them);
* ``encrypted__X__...`` values are decoded first (:mod:`sipctl.param_crypto`);
* ints and bools are checked and stored in canonical form (``"5"``, ``"true"``), ints
  against the documented choices;
* unknown names are kept (the reference is permissive) and logged once.
"""
from __future__ import annotations

import difflib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Mapping

from .errors import BadArgument
from .param_crypto import decode_value, encode_value, is_encrypted
from .params_table import ALIASES, NUMBERED_MAX, PARAMS, ParamSpec

__all__ = ["Parameters", "Problem", "parse_mparam", "check_file", "autocfg_can_load",
           "autocfg_can_save"]

log = logging.getLogger("sipctl.params")

_INT = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_NUMBERED = re.compile(r"([a-z_]+?)(\d+)")
#: Source label of x-mparam values: applied but never written to the INI file.
_VOLATILE = "x-mparam"


def autocfg_can_load(v: int) -> bool:
    """Whether ``autocfgsave`` = ``v`` allows loading the settings file (2 or 3)."""
    return v in (2, 3)


def autocfg_can_save(v: int) -> bool:
    """Whether ``autocfgsave`` = ``v`` allows saving the settings file (1 or 3)."""
    return v in (1, 3)


@dataclass(frozen=True)
class Problem:
    """One problem :func:`check_file` found: 1-based line, parameter name ("" when the
    line has none) and what is wrong."""

    line: int
    name: str
    message: str


def _lookup(name: str, table: Mapping[str, ParamSpec] = PARAMS,
            aliases: Mapping[str, str] = ALIASES) -> tuple[str, ParamSpec | None]:
    """(canonical name, spec or None) for ``name``: lower case, aliases, numbered families."""
    key = name.strip().lower()
    key = aliases.get(key, key)
    spec = table.get(key)
    if spec is not None and not spec.numbered:
        return key, spec
    m = _NUMBERED.fullmatch(key)
    if m is not None and 2 <= int(m.group(2)) <= NUMBERED_MAX and m.group(2)[0] != "0":
        fam = table.get(m.group(1) + "N")
        if fam is not None and fam.numbered:
            return key, fam
    return key, None


def _convert(spec: ParamSpec, name: str, value: str) -> str:
    """The canonical string of ``value`` for ``spec``; :class:`BadArgument` when invalid."""
    if spec.type == "int":
        v = value.strip()
        if not _INT.fullmatch(v):
            raise BadArgument(f"parameter {name} expects an integer, got {value!r}")
        n = int(v)
        if spec.choices is not None and n not in spec.choices:
            raise BadArgument(f"parameter {name} must be one of "
                              f"{', '.join(map(str, spec.choices))}, got {n}")
        return str(n)
    if spec.type == "bool":
        low = value.strip().lower()
        if low in _TRUE:
            return "true"
        if low in _FALSE:
            return "false"
        raise BadArgument(f"parameter {name} expects a boolean (true/false, 1/0, yes/no, "
                          f"on/off), got {value!r}")
    return value


def _typed(spec: ParamSpec, text: str) -> str | int | bool:
    if spec.type == "int":
        return int(text)
    if spec.type == "bool":
        return text == "true"
    return text


def _key_value_lines(text: str) -> list[tuple[int, str]]:
    """Numbered lines of ``text`` split on CRLF or LF (not on the other characters
    ``str.splitlines`` treats as breaks: values may hold them)."""
    return list(enumerate(re.split(r"\r?\n", text), 1))


class Parameters:
    """The parameters of one phone: explicit values over the table's defaults.

    Names are case-insensitive and stored in lower case under their canonical spelling
    (aliases resolved); ``usernameN`` and the other numbered families are stored per N.
    """

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._unknown: dict[str, None] = {}   # ordered set
        self._log_unknown = True

    # ------------------------------------------------------------------ lookups
    @staticmethod
    def lookup(name: str) -> ParamSpec | None:
        """The spec of ``name`` (any case, an alias, or a member like ``username7`` of a
        numbered family), or None when the reference and sipctl do not know it."""
        return _lookup(name)[1]

    def get(self, name: str) -> str | int | bool | None:
        """The typed value: explicit, else the default; an unknown name gives its stored
        string or None."""
        key, spec = _lookup(name)
        raw = self._values.get(key)
        if spec is None:
            return raw
        return spec.default if raw is None else _typed(spec, raw)

    def raw(self, name: str) -> str | None:
        """The explicitly set string, or None when the parameter is at its default."""
        return self._values.get(_lookup(name)[0])

    def is_set(self, name: str) -> bool:
        """Whether ``name`` has an explicit value."""
        return _lookup(name)[0] in self._values

    def source(self, name: str) -> str | None:
        """Where the explicit value came from ("api", "ini", "x-mparam" ...), or None."""
        return self._sources.get(_lookup(name)[0])

    def explicit(self) -> dict[str, str]:
        """Only the explicitly set values, by canonical name: the mapping the
        ``from_params`` readers (accounts, call and media settings) take."""
        return dict(self._values)

    def unknown(self) -> list[str]:
        """Names that were set but are not parameters (in the order first seen)."""
        return list(self._unknown)

    # ------------------------------------------------------------------ setting
    def set(self, name: str, value: str, source: str = "api") -> ParamSpec | None:
        """Set one parameter (``API_SetParameter``); returns its spec, None when unknown.

        Raises :class:`BadArgument` naming the parameter for a value of the wrong type,
        outside the documented choices, or badly encrypted; nothing changes then.
        """
        key, spec = _lookup(name)
        if not key:
            raise BadArgument("empty parameter name")
        value = str(value)
        if is_encrypted(value):
            try:
                value = decode_value(value, str(self.get("encryptionkey")))
            except BadArgument as e:
                raise BadArgument(f"parameter {key}: {e}") from None
        word = value.strip().upper()
        if spec is None:
            if key not in self._unknown:
                self._unknown[key] = None
                if self._log_unknown:
                    log.info("unknown parameter %r stored; sipctl does not use it", key)
            if word == "DEF":
                self._forget(key)
            else:   # an unknown parameter is treated as a string: NULL empties it
                self._store(key, "" if word == "NULL" else value, source)
            return None
        if word == "DEF" or (word == "NULL" and spec.type != "str"):
            self._forget(key)
        elif word == "NULL":
            self._store(key, "", source)
        else:
            self._store(key, _convert(spec, key, value), source)
        return spec

    def _store(self, key: str, value: str, source: str) -> None:
        self._values[key] = value
        self._sources[key] = source

    def _forget(self, key: str) -> None:
        self._values.pop(key, None)
        self._sources.pop(key, None)

    def set_many(self, text: str, source: str = "api") -> list[str]:
        """Apply ``key=value`` lines (the ``API_SetParameters`` body, CRLF or LF separated;
        blank lines skipped, spaces around key and value trimmed). The good lines are
        applied; returns one error string per bad line."""
        errors = []
        for n, line in _key_value_lines(text):
            if not line.strip():
                continue
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                errors.append(f"line {n}: expected key=value, got {line.strip()!r}")
                continue
            try:
                self.set(key.strip(), value.strip(), source)
            except BadArgument as e:
                errors.append(f"line {n}: {e}")
        return errors

    # ------------------------------------------------------------------ wpcfg.ini
    def load_ini(self, path: str | os.PathLike[str]) -> list[str]:
        """Apply a ``wpcfg.ini`` (``key=value`` lines, ``;``/``#`` comments, ``[section]``
        lines ignored). A missing file is not a problem (first start); returns the
        problems, one string each, the good lines being applied."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as e:
            return [f"{os.fspath(path)}: cannot read: {e}"]
        problems = []
        for n, key, value, err in _ini_lines(text):
            if err:
                problems.append(f"{os.fspath(path)}:{n}: {err}")
                continue
            try:
                self.set(key, value, "ini")
            except BadArgument as e:
                problems.append(f"{os.fspath(path)}:{n}: {e}")
        return problems

    def save_ini(self, path: str | os.PathLike[str]) -> None:
        """Write the explicit values (not the ``x-mparam`` ones, which are not meant to
        persist) to ``path`` atomically, mode 0600 (it may hold passwords)."""
        lines = ["; sipctl parameters (wpcfg.ini): written by sipctl, explicit values only"]
        for key, value in self._values.items():
            if self._sources.get(key) == _VOLATILE:
                continue
            # a line break or edge space would not survive the line format: base64 does
            if value != value.strip() or "\n" in value or "\r" in value:
                value = encode_value(value, 4, "")
            lines.append(f"{key}={value}")
        data = "\n".join(lines) + "\n"
        target = os.fspath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)),
                                   prefix=".wpcfg.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # ------------------------------------------------------------------ x-mparam
    def apply_mparam(self, header_value: str, persist: bool) -> list[str]:
        """Apply an ``x-mparam`` (``persist`` False) or ``x-mparamp`` (True) header value
        such as ``loglevel=5;aec=0``; returns the names set. Bad items are logged and
        skipped (a server's header must not break the phone). With ``persist`` the
        caller saves the INI afterwards; plain x-mparam values are never saved."""
        done = []
        for key, value in parse_mparam(header_value):
            try:
                self.set(key, value, "x-mparamp" if persist else _VOLATILE)
            except BadArgument as e:
                log.warning("x-mparam item %s=%r ignored: %s", key, value, e)
                continue
            done.append(_lookup(key)[0])
        return done


def _ini_lines(text: str) -> list[tuple[int, str, str, str]]:
    """(line, key, value, error) for each meaningful INI line."""
    out = []
    for n, line in _key_value_lines(text):
        s = line.strip()
        if not s or s[0] in ";#" or (s[0] == "[" and s[-1] == "]"):
            continue
        key, eq, value = s.partition("=")
        if not eq or not key.strip():
            out.append((n, key.strip() if eq else "", "", f"expected key=value, got {s!r}"))
        else:
            out.append((n, key.strip(), value.strip(), ""))
    return out


def parse_mparam(header_value: str) -> list[tuple[str, str]]:
    """``[(name, value), ...]`` from an ``x-mparam`` header value ``a=1;b=2``. A leading
    ``x-mparam=``/``x-mparamp=`` or ``x-mparam:`` (the reference's example writes the
    header that way) is dropped; items without ``=`` are logged and skipped."""
    text = header_value.strip()
    m = re.match(r"x-mparamp?\s*[:=]\s*", text, re.IGNORECASE)
    if m is not None:
        text = text[m.end():]
    out = []
    for item in text.split(";"):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            log.warning("x-mparam item %r ignored: expected name=value", item.strip())
            continue
        out.append((key.strip(), value.strip()))
    return out


def _suggest(name: str) -> str:
    names = [n for n, s in PARAMS.items() if not s.numbered] + list(ALIASES)
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_file(path: str | os.PathLike[str]) -> list[Problem]:
    """Problems of a parameter file (``sipctl params --check FILE``): lines without
    ``=``, unknown names (with a close match suggested) and bad values. Raises
    :class:`OSError` when the file cannot be read."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    scratch = Parameters()   # values earlier in the file count (encryptionkey ...)
    scratch._log_unknown = False
    problems = []
    for n, key, value, err in _ini_lines(text):
        if err:
            problems.append(Problem(n, key, err))
            continue
        if Parameters.lookup(key) is None:
            problems.append(Problem(n, key, f"unknown parameter {key!r}{_suggest(key)}"))
            continue
        try:
            scratch.set(key, value, "check")
        except BadArgument as e:
            problems.append(Problem(n, key, str(e)))
    return problems
