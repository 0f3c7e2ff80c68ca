"""SIP grammar as data: ABNF rules as named regular-expression fragments.

Each constant is a regex *source* fragment (no anchors, no groups that capture)
named after the ABNF rule it implements, with the rule quoted beside it
(RFC 3261 section 25 unless noted; RFC 3966 for ``tel:``, RFC 3581 for
``rport``). Readers combine fragments into compiled patterns; nothing here does
any parsing itself.

Header values reach these patterns *unfolded*: the message reader has already
replaced every LWS line fold (``*WSP CRLF 1*WSP``) by a single SP, so ``LWS``
and ``SWS`` below only need to match spaces and tabs.
"""
from __future__ import annotations

import re

__all__ = [
    "ALPHANUM", "ESCAPED", "UNRESERVED", "MARK", "RESERVED", "TOKEN", "WORD", "CALLID",
    "METHOD", "LWS", "SWS", "HCOLON", "SEMI", "COMMA", "EQUAL", "SLASH", "LAQUOT", "RAQUOT",
    "QDTEXT", "QUOTED_PAIR", "QUOTED_STRING", "USER", "PASSWORD", "HOSTNAME", "HOSTNAME_FAST", "IPV4ADDRESS",
    "IPV6REFERENCE", "IPV6ADDRESS", "IPV4_STRICT", "PORT_STRICT", "HOST", "PORT", "HOSTPORT", "PNAME", "PVALUE",
    "URI_PARAMETER", "HNAME", "HVALUE", "SCHEME", "SIP_VERSION", "STATUS_CODE", "REASON_PHRASE",
    "GEN_VALUE", "GENERIC_PARAM", "DISPLAY_NAME", "DELTA_SECONDS", "M_TYPE", "M_SUBTYPE",
    "TEL_PHONEDIGIT", "TEL_GLOBAL_NUMBER_DIGITS", "TEL_LOCAL_NUMBER_DIGITS", "TEL_PNAME",
    "TEL_PVALUE", "TOKEN_RE", "CALLID_RE", "QUOTED_STRING_RE", "HOST_RE",
    "LIST_ELEMENT_RE",
]

# --- basic rules --------------------------------------------------------------------------
#: alphanum = ALPHA / DIGIT
ALPHANUM = r"[A-Za-z0-9]"
#: escaped = "%" HEXDIG HEXDIG
ESCAPED = r"%[0-9A-Fa-f]{2}"
#: mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
MARK = r"[\-_.!~*'()]"
#: unreserved = alphanum / mark
UNRESERVED = r"[A-Za-z0-9\-_.!~*'()]"
#: reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
RESERVED = r"[;/?:@&=+$,]"
#: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
#: word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#:        "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}" )
WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
#: callid = word [ "@" word ]
CALLID = WORD + r"(?:@" + WORD + r")?"
#: Method = INVITEm / ACKm / ... / extension-method ; extension-method = token
METHOD = TOKEN

# --- separators (values are unfolded: LWS is plain whitespace) ----------------------------
#: LWS = [*WSP CRLF] 1*WSP
LWS = r"[ \t]+"
#: SWS = [LWS]
SWS = r"[ \t]*"
#: HCOLON = *( SP / HTAB ) ":" SWS
HCOLON = r"[ \t]*:" + SWS
#: SEMI = SWS ";" SWS
SEMI = SWS + ";" + SWS
#: COMMA = SWS "," SWS
COMMA = SWS + "," + SWS
#: EQUAL = SWS "=" SWS
EQUAL = SWS + "=" + SWS
#: SLASH = SWS "/" SWS
SLASH = SWS + "/" + SWS
#: LAQUOT = SWS "<"
LAQUOT = SWS + "<"
#: RAQUOT = ">" SWS
RAQUOT = ">" + SWS

# --- quoted strings -----------------------------------------------------------------------
#: qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
QDTEXT = "[ \t!#-\\[\\]-~\u0080-\U0010ffff]"
#: quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
QUOTED_PAIR = "\\\\[\x00-\x09\x0b\x0c\x0e-\x7f]"
#: quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE   (leading SWS left to callers)
QUOTED_STRING = '"(?:' + QDTEXT + "|" + QUOTED_PAIR + ')*"'

# --- SIP-URI components (RFC 3261 19.1.1 / 25.1) -------------------------------------------
#: user = 1*( unreserved / escaped / user-unreserved )
#: user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
USER = r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|" + ESCAPED + r")+"
#: password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
PASSWORD = r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|" + ESCAPED + r")*"
_DOMAINLABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_TOPLABEL = r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
#: hostname = *( domainlabel "." ) toplabel [ "." ]
HOSTNAME = r"(?:" + _DOMAINLABEL + r"\.)*" + _TOPLABEL + r"\.?"
#: The same language without a trailing dot, written with possessive quantifiers: several
#: times faster, used by the fast-path patterns (whatever it matches, HOSTNAME matches).
HOSTNAME_FAST = r"(?:[A-Za-z0-9][A-Za-z0-9\-]*+(?<!-)\.)*+[A-Za-z][A-Za-z0-9\-]*+(?<!-)"
#: IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
IPV4ADDRESS = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
#: IPv4address with every octet in 0..255 (the ABNF allows 999; checked values are stricter)
IPV4_STRICT = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: port in 0..65535
PORT_STRICT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
#: IPv6address = hexpart [ ":" IPv4address ]   (shape only; checked with ipaddress later)
IPV6ADDRESS = r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
#: IPv6reference = "[" IPv6address "]"
IPV6REFERENCE = r"\[" + IPV6ADDRESS + r"\]"
#: host = hostname / IPv4address / IPv6reference
HOST = r"(?:" + IPV6REFERENCE + "|" + IPV4ADDRESS + "(?![A-Za-z0-9\\-])|" + HOSTNAME + ")"
#: port = 1*DIGIT
PORT = r"[0-9]+"
#: hostport = host [ ":" port ]
HOSTPORT = HOST + r"(?::" + PORT + r")?"
_PARAMCHAR = r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|" + ESCAPED + r")"
#: pname = 1*paramchar ; paramchar = param-unreserved / unreserved / escaped
PNAME = _PARAMCHAR + "+"
#: pvalue = 1*paramchar
PVALUE = _PARAMCHAR + "+"
#: uri-parameter = transport-param / ... / other-param ; other-param = pname [ "=" pvalue ]
URI_PARAMETER = PNAME + "(?:=" + PVALUE + ")?"
_HNVCHAR = r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|" + ESCAPED + r")"
#: hname = 1*( hnv-unreserved / unreserved / escaped )
HNAME = _HNVCHAR + "+"
#: hvalue = *( hnv-unreserved / unreserved / escaped )
HVALUE = _HNVCHAR + "*"
#: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"

# --- start lines ----------------------------------------------------------------------------
#: SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
SIP_VERSION = r"[Ss][Ii][Pp]/[0-9]+\.[0-9]+"
#: Status-Code = 3DIGIT (extension-code = 3DIGIT)
STATUS_CODE = r"[0-9]{3}"
#: Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
REASON_PHRASE = "[^\x00-\x08\x0a-\x1f\x7f]*"

# --- header field pieces ---------------------------------------------------------------------
#: gen-value = token / host / quoted-string  (plus a bare IPv6address, the RFC 5118 form of
#: ``received``)
GEN_VALUE = r"(?:" + TOKEN + "|" + HOST + "|" + QUOTED_STRING + "|" + IPV6ADDRESS + ")"
#: generic-param = token [ EQUAL gen-value ]
GENERIC_PARAM = TOKEN + r"(?:" + EQUAL + GEN_VALUE + ")?"
#: display-name = *(token LWS)/ quoted-string
DISPLAY_NAME = r"(?:" + QUOTED_STRING + "|" + TOKEN + r"(?:" + LWS + TOKEN + r")*)"
#: delta-seconds = 1*DIGIT
DELTA_SECONDS = r"[0-9]+"
#: m-type = discrete-type / composite-type / extension-token (a token)
M_TYPE = TOKEN
#: m-subtype = extension-token / iana-token (a token)
M_SUBTYPE = TOKEN

# --- tel: URI (RFC 3966 section 3) ------------------------------------------------------------
#: phonedigit = DIGIT / [ visual-separator ] ; visual-separator = "-" / "." / "(" / ")"
TEL_PHONEDIGIT = r"[0-9\-.()]"
#: global-number-digits = "+" *phonedigit DIGIT *phonedigit
TEL_GLOBAL_NUMBER_DIGITS = r"\+[0-9\-.()]*[0-9][0-9\-.()]*"
#: local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#")*phonedigit-hex
TEL_LOCAL_NUMBER_DIGITS = r"[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*"
#: pname = 1*( alphanum / "-" )
TEL_PNAME = r"[A-Za-z0-9\-]+"
#: pvalue = 1*paramchar ; paramchar = param-unreserved / unreserved / pct-encoded
TEL_PVALUE = _PARAMCHAR + "+"


#: Precompiled helpers shared by the readers.
TOKEN_RE = re.compile(TOKEN)
CALLID_RE = re.compile(CALLID)
QUOTED_STRING_RE = re.compile(QUOTED_STRING)
HOST_RE = re.compile(HOST)
#: The longest prefix of a comma-separated list that holds no element separator: commas
#: inside quoted strings and inside ``<...>`` do not separate elements (RFC 3261 7.3.1).
LIST_ELEMENT_RE = re.compile(r'(?:[^,"<]+|' + QUOTED_STRING + r'|<[^>]*>)*')


def find_param(params: dict[str, str | None], name: str, default: str | None = None) -> str | None:
    """Value of parameter ``name`` in ``params``; names compare case-insensitively
    (RFC 3261 7.3.1). An exact-case hit is tried first: it is the common case."""
    if name in params:
        return params[name]
    name = name.lower()
    for k, v in params.items():
        if k.lower() == name:
            return v
    return default
