"""A strict RFC 5545 reader for the tests: it refuses what a lenient parser lets through.

Written from the RFC, not from a library. ``read(data)`` checks, in this order:

* the stream is UTF-8, every line ends in CRLF (§3.1), no line is longer than 75 octets
  (excluding the CRLF) and no fold splits a multi-octet character (§3.1);
* each unfolded content line follows §3.1's grammar
  ``name *(";" param) ":" value``, with parameter values either ``paramtext`` or a
  quoted string, and no control characters;
* components nest as RFC 5545 allows (VCALENDAR > VEVENT/VTODO/… > VALARM), BEGIN/END
  balanced and matching, nothing outside the VCALENDAR;
* every property is known (RFC 5545 §3.7–3.8, or an ``X-`` name), is allowed in its
  component, appears no more often than allowed, and required ones are present;
* **the value of every property** parses as its value type: the default type, or the one
  its ``VALUE`` parameter declares, when the property allows that type (§3.3, §3.8);
  properties whose value must be UTC (DTSTAMP, an absolute TRIGGER, …) are checked for
  the ``Z``; enumerated properties (TRANSP, ACTION, …) for their values.

Any violation raises :class:`StrictICSError`, whose message names the (physical) line.
The result is a tree of :class:`Component` with decoded values, for tests to assert on.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field

MAX_OCTETS = 75


class StrictICSError(ValueError):
    def __init__(self, line: int | None, message: str):
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


# --------------------------------------------------------------------------- result


@dataclass
class Property:
    name: str
    params: dict[str, list[str]]
    raw: str  # the value as written, still escaped
    value: object  # decoded: str, list[str], dt.date, dt.datetime, dt.timedelta, …
    value_type: str
    line: int

    def param(self, name: str) -> str | None:
        values = self.params.get(name.upper())
        return None if values is None else ",".join(values)


@dataclass
class Component:
    name: str
    line: int
    properties: list[Property] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)

    def all(self, name: str) -> list[Property]:
        return [p for p in self.properties if p.name == name.upper()]

    def get(self, name: str) -> Property | None:
        found = self.all(name)
        return found[0] if found else None

    def __getitem__(self, name: str) -> Property:
        prop = self.get(name)
        if prop is None:
            raise KeyError(name)
        return prop

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def walk(self, name: str) -> list[Component]:
        out = [self] if self.name == name.upper() else []
        for c in self.components:
            out += c.walk(name)
        return out


# --------------------------------------------------------------------------- §3.1 lines


def physical_lines(data: bytes) -> list[tuple[int, str]]:
    """(line number, text) of every physical line; checks CRLF, length and UTF-8."""
    if not isinstance(data, bytes):
        raise TypeError("read() takes the file's bytes")
    if not data:
        raise StrictICSError(None, "empty stream")
    *lines, last = data.split(b"\n")
    if last:
        raise StrictICSError(len(lines) + 1, "the last line does not end in CRLF")
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.endswith(b"\r"):
            raise StrictICSError(number, "bare LF line ending (lines end in CRLF, §3.1)")
        line = line[:-1]
        if b"\r" in line:
            raise StrictICSError(number, "bare CR in a line (lines end in CRLF, §3.1)")
        if len(line) > MAX_OCTETS:
            raise StrictICSError(number, f"line is {len(line)} octets long; fold at {MAX_OCTETS} (§3.1)")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictICSError(number, f"not UTF-8 on its own ({exc.reason}): a fold split a multi-octet character") from None
        out.append((number, text))
    return out


def unfold(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Content lines: a physical line starting with SPACE or HTAB continues the previous
    one, without that one whitespace character (§3.1)."""
    out: list[tuple[int, str]] = []
    for number, text in lines:
        if text[:1] in (" ", "\t"):
            if not out:
                raise StrictICSError(number, "continuation line with nothing to continue")
            start, before = out[-1]
            out[-1] = (start, before + text[1:])
        else:
            out.append((number, text))
    for number, text in out:
        if not text:
            raise StrictICSError(number, "empty content line")
    return out


# Character classes of §3.1 and §3.3.11 (NON-US-ASCII is any code point above U+007F).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NAME = re.compile(r"[A-Za-z0-9-]+")
_PARAMTEXT = re.compile(r'[^\x00-\x08\x0a-\x1f\x7f";:,]*')
_QUOTED = re.compile(r'"([^\x00-\x08\x0a-\x1f\x7f"]*)"')


def parse_content_line(number: int, line: str) -> tuple[str, dict[str, list[str]], str]:
    """``name *(";" param) ":" value`` → (NAME, {PARAM: [values]}, value)."""
    m = _NAME.match(line)
    if not m:
        raise StrictICSError(number, f"no property name at the start of {line[:30]!r}")
    name = m.group().upper()
    pos = m.end()
    params: dict[str, list[str]] = {}
    while pos < len(line) and line[pos] == ";":
        pm = _NAME.match(line, pos + 1)
        if not pm:
            raise StrictICSError(number, f"{name}: bad parameter name at column {pos + 2}")
        pname = pm.group().upper()
        pos = pm.end()
        if line[pos : pos + 1] != "=":
            raise StrictICSError(number, f"{name}: parameter {pname} has no '='")
        values = []
        while True:
            pos += 1  # past "=" or ","
            if line[pos : pos + 1] == '"':
                qm = _QUOTED.match(line, pos)
                if not qm:
                    raise StrictICSError(number, f"{name}: unterminated or invalid quoted value of {pname}")
                values.append(qm.group(1))
                pos = qm.end()
            else:
                tm = _PARAMTEXT.match(line, pos)
                values.append(tm.group())
                pos = tm.end()
            if line[pos : pos + 1] != ",":
                break
        if pname in params:
            raise StrictICSError(number, f"{name}: parameter {pname} given twice")
        params[pname] = values
    if line[pos : pos + 1] != ":":
        raise StrictICSError(number, f"{name}: expected ':' or ';' at column {pos + 1}, found {line[pos : pos + 1]!r}")
    value = line[pos + 1 :]
    if _CONTROL.search(value):
        raise StrictICSError(number, f"{name}: control character in the value")
    return name, params, value


# --------------------------------------------------------------------------- §3.3 value types


class _Bad(ValueError):
    pass


def _date(s: str) -> dt.date:
    if not re.fullmatch(r"\d{8}", s):
        raise _Bad(f"{s!r} is not a DATE (YYYYMMDD)")
    try:
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    except ValueError:
        raise _Bad(f"{s!r} is not a calendar date") from None


def _time(s: str) -> dt.time:
    m = re.fullmatch(r"(\d\d)(\d\d)(\d\d)(Z?)", s)
    if not m:
        raise _Bad(f"{s!r} is not a TIME (HHMMSS[Z])")
    h, mi, se = (int(g) for g in m.groups()[:3])
    if h > 23 or mi > 59 or se > 60:
        raise _Bad(f"{s!r} is out of range")
    return dt.time(h, mi, min(se, 59), tzinfo=dt.timezone.utc if m.group(4) else None)


def _date_time(s: str) -> dt.datetime:
    if "T" not in s:
        raise _Bad(f"{s!r} is not a DATE-TIME (YYYYMMDDTHHMMSS[Z])")
    d, t = s.split("T", 1)
    try:
        return dt.datetime.combine(_date(d), _time(t))
    except _Bad:
        raise _Bad(f"{s!r} is not a DATE-TIME (YYYYMMDDTHHMMSS[Z])") from None


_DUR_TIME = r"T(?:(?P<h>\d+)H(?:(?P<m1>\d+)M(?:(?P<s1>\d+)S)?)?|(?P<m2>\d+)M(?:(?P<s2>\d+)S)?|(?P<s3>\d+)S)"
_DURATION = re.compile(rf"(?P<sign>[+-]?)P(?:(?P<w>\d+)W|(?P<d>\d+)D(?:{_DUR_TIME})?|{_DUR_TIME.replace('?P<', '?P<x')})")


def _duration(s: str) -> dt.timedelta:
    m = _DURATION.fullmatch(s)
    if not m:
        raise _Bad(f"{s!r} is not a DURATION (e.g. -P1D, PT15M, P1W)")
    g = {k.lstrip("x"): int(v) for k, v in m.groupdict().items() if v and k not in ("sign", "xsign")}
    total = dt.timedelta(
        weeks=g.get("w", 0),
        days=g.get("d", 0),
        hours=g.get("h", 0),
        minutes=g.get("m1", 0) + g.get("m2", 0),
        seconds=g.get("s1", 0) + g.get("s2", 0) + g.get("s3", 0),
    )
    return -total if m.group("sign") == "-" else total


def _period(s: str) -> tuple[dt.datetime, object]:
    start, sep, end = s.partition("/")
    if not sep:
        raise _Bad(f"{s!r} is not a PERIOD (start/end or start/duration)")
    first = _date_time(start)
    return first, (_duration(end) if end[:1] in "+-P" else _date_time(end))


def _integer(s: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", s):
        raise _Bad(f"{s!r} is not an INTEGER")
    return int(s)


def _float(s: str) -> float:
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", s):
        raise _Bad(f"{s!r} is not a FLOAT")
    return float(s)


def _boolean(s: str) -> bool:
    if s.upper() not in ("TRUE", "FALSE"):
        raise _Bad(f"{s!r} is not a BOOLEAN")
    return s.upper() == "TRUE"


def _uri(s: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S*", s):
        raise _Bad(f"{s!r} is not a URI")
    return s


def _utc_offset(s: str) -> dt.timedelta:
    m = re.fullmatch(r"([+-])(\d\d)(\d\d)(\d\d)?", s)
    if not m or s == "-0000" or s == "-000000":
        raise _Bad(f"{s!r} is not a UTC-OFFSET (+HHMM[SS], never -0000)")
    off = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)), seconds=int(m.group(4) or 0))
    return off if m.group(1) == "+" else -off


def _binary(s: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except ValueError:
        raise _Bad("not BASE64 BINARY") from None


_RECUR_PARTS = {
    "FREQ",
    "UNTIL",
    "COUNT",
    "INTERVAL",
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
}


def _recur(s: str) -> dict[str, str]:
    parts = {}
    for part in s.split(";"):
        key, sep, val = part.partition("=")
        if not sep or key.upper() not in _RECUR_PARTS or key.upper() in parts:
            raise _Bad(f"{s!r} is not a RECUR (bad part {part!r})")
        parts[key.upper()] = val
    if parts.get("FREQ") not in ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        raise _Bad(f"{s!r} is not a RECUR (FREQ missing or unknown)")
    return parts


_TEXT_ESCAPES = {"\\": "\\", ";": ";", ",": ",", "n": "\n", "N": "\n"}


def _text(s: str, *, list_sep: bool = False) -> str | list[str]:
    """§3.3.11: ``\\\\``, ``\\;``, ``\\,`` and ``\\n`` are the only escapes; an unescaped
    ``;`` or ``,`` is not TEXT — unless ``list_sep``, when unescaped ``,`` separates values."""
    items, cur, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            nxt = s[i + 1 : i + 2]
            if nxt not in _TEXT_ESCAPES:
                raise _Bad(f"bad escape '\\{nxt}' in TEXT at column {i + 1}")
            cur.append(_TEXT_ESCAPES[nxt])
            i += 2
            continue
        if c == "," and list_sep:
            items.append("".join(cur))
            cur = []
        elif c in ";,":
            raise _Bad(f"unescaped {c!r} in TEXT at column {i + 1} (write '\\{c}')")
        else:
            cur.append(c)
        i += 1
    items.append("".join(cur))
    return items if list_sep else items[0]


_PARSERS = {
    "TEXT": _text,
    "DATE": _date,
    "DATE-TIME": _date_time,
    "TIME": _time,
    "DURATION": _duration,
    "PERIOD": _period,
    "INTEGER": _integer,
    "FLOAT": _float,
    "BOOLEAN": _boolean,
    "URI": _uri,
    "CAL-ADDRESS": _uri,
    "UTC-OFFSET": _utc_offset,
    "BINARY": _binary,
    "RECUR": _recur,
}


def _list(parser, s: str) -> list:
    return [parser(v) for v in s.split(",")]


# --------------------------------------------------------------------------- §3.7, §3.8 properties


@dataclass(frozen=True)
class PropDef:
    default: str
    allowed: tuple[str, ...] = ()  # other value types VALUE may declare
    multi: bool = False  # a comma-separated list of values
    utc: bool = False  # a DATE-TIME value must be UTC
    enum: tuple[str, ...] = ()  # for TEXT: the only values (X- names also allowed where RFC says so)
    x_enum: bool = False  # X- names are allowed besides ``enum``


_DT = ("DATE",)
PROPERTIES: dict[str, PropDef] = {
    # §3.7 calendar properties
    "CALSCALE": PropDef("TEXT", enum=("GREGORIAN",)),
    "METHOD": PropDef("TEXT"),  # iana-token, checked below
    "PRODID": PropDef("TEXT"),
    "VERSION": PropDef("TEXT", enum=("2.0",)),
    # §3.8.1 descriptive
    "ATTACH": PropDef("URI", ("BINARY",)),
    "CATEGORIES": PropDef("TEXT", multi=True),
    "CLASS": PropDef("TEXT", enum=("PUBLIC", "PRIVATE", "CONFIDENTIAL"), x_enum=True),
    "COMMENT": PropDef("TEXT"),
    "DESCRIPTION": PropDef("TEXT"),
    "GEO": PropDef("FLOAT"),  # two floats separated by ';', checked below
    "LOCATION": PropDef("TEXT"),
    "PERCENT-COMPLETE": PropDef("INTEGER"),
    "PRIORITY": PropDef("INTEGER"),
    "RESOURCES": PropDef("TEXT", multi=True),
    "STATUS": PropDef(
        "TEXT",
        enum=("TENTATIVE", "CONFIRMED", "CANCELLED", "NEEDS-ACTION", "COMPLETED", "IN-PROCESS", "DRAFT", "FINAL"),
    ),
    "SUMMARY": PropDef("TEXT"),
    # §3.8.2 date and time
    "COMPLETED": PropDef("DATE-TIME", utc=True),
    "DTEND": PropDef("DATE-TIME", _DT),
    "DUE": PropDef("DATE-TIME", _DT),
    "DTSTART": PropDef("DATE-TIME", _DT),
    "DURATION": PropDef("DURATION"),
    "FREEBUSY": PropDef("PERIOD", multi=True),
    "TRANSP": PropDef("TEXT", enum=("OPAQUE", "TRANSPARENT")),
    # §3.8.3 time zone
    "TZID": PropDef("TEXT"),
    "TZNAME": PropDef("TEXT"),
    "TZOFFSETFROM": PropDef("UTC-OFFSET"),
    "TZOFFSETTO": PropDef("UTC-OFFSET"),
    "TZURL": PropDef("URI"),
    # §3.8.4 relationship
    "ATTENDEE": PropDef("CAL-ADDRESS"),
    "CONTACT": PropDef("TEXT"),
    "ORGANIZER": PropDef("CAL-ADDRESS"),
    "RECURRENCE-ID": PropDef("DATE-TIME", _DT),
    "RELATED-TO": PropDef("TEXT"),
    "URL": PropDef("URI"),
    "UID": PropDef("TEXT"),
    # §3.8.5 recurrence
    "EXDATE": PropDef("DATE-TIME", _DT, multi=True),
    "RDATE": PropDef("DATE-TIME", ("DATE", "PERIOD"), multi=True),
    "RRULE": PropDef("RECUR"),
    # §3.8.6 alarm
    "ACTION": PropDef("TEXT", enum=("AUDIO", "DISPLAY", "EMAIL"), x_enum=True),
    "REPEAT": PropDef("INTEGER"),
    "TRIGGER": PropDef("DURATION", ("DATE-TIME",), utc=True),
    # §3.8.7 change management
    "CREATED": PropDef("DATE-TIME", utc=True),
    "DTSTAMP": PropDef("DATE-TIME", utc=True),
    "LAST-MODIFIED": PropDef("DATE-TIME", utc=True),
    "SEQUENCE": PropDef("INTEGER"),
    # §3.8.8 miscellaneous
    "REQUEST-STATUS": PropDef("TEXT"),  # "code;text[;data]": ';' is a separator here
}

# §3.2 parameters
PARAMETERS = {
    "ALTREP",
    "CN",
    "CUTYPE",
    "DELEGATED-FROM",
    "DELEGATED-TO",
    "DIR",
    "ENCODING",
    "FMTTYPE",
    "FBTYPE",
    "LANGUAGE",
    "MEMBER",
    "PARTSTAT",
    "RANGE",
    "RELATED",
    "RELTYPE",
    "ROLE",
    "RSVP",
    "SENT-BY",
    "TZID",
    "VALUE",
}
VALUE_TYPES = set(_PARSERS)

_ONCE, _MANY, _REQUIRED = "once", "many", "required"
_EVENTLIKE_COMMON = {
    "DTSTAMP": _REQUIRED,
    "UID": _REQUIRED,
    "CLASS": _ONCE,
    "CREATED": _ONCE,
    "DESCRIPTION": _ONCE,
    "DTSTART": _ONCE,
    "LAST-MODIFIED": _ONCE,
    "ORGANIZER": _ONCE,
    "RECURRENCE-ID": _ONCE,
    "SEQUENCE": _ONCE,
    "STATUS": _ONCE,
    "SUMMARY": _ONCE,
    "URL": _ONCE,
    "RRULE": _ONCE,
    "ATTACH": _MANY,
    "ATTENDEE": _MANY,
    "CATEGORIES": _MANY,
    "COMMENT": _MANY,
    "CONTACT": _MANY,
    "EXDATE": _MANY,
    "REQUEST-STATUS": _MANY,
    "RELATED-TO": _MANY,
    "RDATE": _MANY,
}
# Which properties (and how often) and which sub-components each component may hold.
COMPONENTS: dict[str, tuple[dict[str, str], set[str]]] = {
    "VCALENDAR": (
        {"PRODID": _REQUIRED, "VERSION": _REQUIRED, "CALSCALE": _ONCE, "METHOD": _ONCE},
        {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE"},
    ),
    "VEVENT": (
        {
            **_EVENTLIKE_COMMON,
            "DTSTART": _REQUIRED,
            "GEO": _ONCE,
            "LOCATION": _ONCE,
            "PRIORITY": _ONCE,
            "TRANSP": _ONCE,
            "DTEND": _ONCE,
            "DURATION": _ONCE,
            "RESOURCES": _MANY,
        },
        {"VALARM"},
    ),
    "VTODO": (
        {
            **_EVENTLIKE_COMMON,
            "COMPLETED": _ONCE,
            "GEO": _ONCE,
            "LOCATION": _ONCE,
            "PERCENT-COMPLETE": _ONCE,
            "PRIORITY": _ONCE,
            "DUE": _ONCE,
            "DURATION": _ONCE,
            "RESOURCES": _MANY,
        },
        {"VALARM"},
    ),
    "VJOURNAL": (dict(_EVENTLIKE_COMMON), set()),
    "VFREEBUSY": (
        {
            "DTSTAMP": _REQUIRED,
            "UID": _REQUIRED,
            "CONTACT": _ONCE,
            "DTSTART": _ONCE,
            "DTEND": _ONCE,
            "ORGANIZER": _ONCE,
            "URL": _ONCE,
            "ATTENDEE": _MANY,
            "COMMENT": _MANY,
            "FREEBUSY": _MANY,
            "REQUEST-STATUS": _MANY,
        },
        set(),
    ),
    "VTIMEZONE": ({"TZID": _REQUIRED, "LAST-MODIFIED": _ONCE, "TZURL": _ONCE}, {"STANDARD", "DAYLIGHT"}),
    "STANDARD": (
        {
            "DTSTART": _REQUIRED,
            "TZOFFSETTO": _REQUIRED,
            "TZOFFSETFROM": _REQUIRED,
            "RRULE": _ONCE,
            "COMMENT": _MANY,
            "RDATE": _MANY,
            "TZNAME": _MANY,
        },
        set(),
    ),
    "VALARM": (
        {
            "ACTION": _REQUIRED,
            "TRIGGER": _REQUIRED,
            "DURATION": _ONCE,
            "REPEAT": _ONCE,
            "DESCRIPTION": _ONCE,
            "SUMMARY": _ONCE,
            "ATTACH": _MANY,
            "ATTENDEE": _MANY,
        },
        set(),
    ),
}
COMPONENTS["DAYLIGHT"] = COMPONENTS["STANDARD"]


def _is_x(name: str) -> bool:
    return name.startswith("X-")


def _value(number: int, name: str, params: dict[str, list[str]], raw: str) -> tuple[str, object]:
    """(value type, decoded value) of one property, or StrictICSError."""
    if _is_x(name):
        # An X- property's value type is TEXT unless it declares another (§3.8.8.2).
        declared = params.get("VALUE", ["TEXT"])[0].upper()
        defn = PropDef("TEXT", tuple(VALUE_TYPES - {"TEXT"}))
    else:
        defn = PROPERTIES[name]
        declared = params.get("VALUE", [defn.default])[0].upper()
    if "VALUE" in params:
        if len(params["VALUE"]) != 1:
            raise StrictICSError(number, f"{name}: VALUE takes one value type")
        if declared not in VALUE_TYPES:
            raise StrictICSError(number, f"{name}: unknown value type VALUE={declared}")
    if declared != defn.default and declared not in defn.allowed:
        raise StrictICSError(
            number,
            f"{name} cannot have VALUE={declared} (it takes {defn.default}" + "".join(f" or {a}" for a in defn.allowed) + ")",
        )
    try:
        if declared == "TEXT":
            if name == "REQUEST-STATUS":
                value: object = [_text(part) for part in raw.split(";")]
            else:
                value = _text(raw, list_sep=defn.multi)
        elif name == "GEO":
            lat, sep, lon = raw.partition(";")
            if not sep:
                raise _Bad("GEO is 'latitude;longitude'")
            value = (_float(lat), _float(lon))
        elif defn.multi:
            value = _list(_PARSERS[declared], raw)
        else:
            value = _PARSERS[declared](raw)
    except _Bad as exc:
        hint = ""
        if declared != "DATE" and "DATE" in defn.allowed and re.fullmatch(r"\d{8}", raw):
            hint = " (a DATE needs VALUE=DATE)"
        if declared == "DURATION" and "DATE-TIME" in defn.allowed and "T" in raw and raw[:1].isdigit():
            hint = " (an absolute time needs VALUE=DATE-TIME, §3.8.6.3)"
        raise StrictICSError(number, f"{name}: {exc}{hint}") from None

    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dt.datetime):
            if defn.utc and v.tzinfo is None:
                raise StrictICSError(number, f"{name}: {raw!r} must be a UTC DATE-TIME (ending in Z)")
            if v.tzinfo is not None and "TZID" in params:
                raise StrictICSError(number, f"{name}: TZID on a UTC time")
    if defn.enum and not (defn.x_enum and _is_x(str(value).upper())):
        if str(value).upper() not in defn.enum:  # enumerated values are case-insensitive (§2)
            raise StrictICSError(number, f"{name}: {raw!r} is not one of {', '.join(defn.enum)}")
    if name == "METHOD" and not _NAME.fullmatch(raw):
        raise StrictICSError(number, f"METHOD: {raw!r} is not an iana-token")
    if name == "TRIGGER" and declared == "DATE-TIME" and "RELATED" in params:
        raise StrictICSError(number, "TRIGGER: RELATED applies only to a DURATION trigger")
    return declared, value


def _check_params(number: int, name: str, params: dict[str, list[str]]) -> None:
    for p in params:
        if p not in PARAMETERS and not _is_x(p):
            raise StrictICSError(number, f"{name}: unknown parameter {p}")


# --------------------------------------------------------------------------- components


def _close(comp: Component) -> None:
    """Checks once a component is complete: required properties and combinations."""
    rules, _ = COMPONENTS[comp.name]
    for prop, how in rules.items():
        if how == _REQUIRED and prop not in comp:
            raise StrictICSError(comp.line, f"{comp.name} has no {prop}")
    if comp.name == "VCALENDAR" and not comp.components:
        raise StrictICSError(comp.line, "VCALENDAR holds no component (§3.6 needs at least one)")
    if comp.name in ("VEVENT", "VTODO"):
        end = "DTEND" if comp.name == "VEVENT" else "DUE"
        if end in comp and "DURATION" in comp:
            raise StrictICSError(comp[end].line, f"{comp.name} has both {end} and DURATION")
        start = comp.get("DTSTART")
        if end in comp:
            if start is None:
                raise StrictICSError(comp[end].line, f"{end} without DTSTART")
            if start.value_type != comp[end].value_type:
                raise StrictICSError(comp[end].line, f"{end} is a {comp[end].value_type}, DTSTART a {start.value_type}")
            a, b = start.value, comp[end].value
            comparable = not isinstance(a, dt.datetime) or (a.tzinfo is None) == (b.tzinfo is None)
            if comparable and not b > a:
                raise StrictICSError(comp[end].line, f"{end} is not after DTSTART")
    if comp.name in ("STANDARD", "DAYLIGHT"):
        start = comp["DTSTART"]
        if start.value_type != "DATE-TIME" or start.value.tzinfo is not None:
            raise StrictICSError(start.line, f"DTSTART of {comp.name} must be a local DATE-TIME (§3.6.5)")
    if comp.name == "VALARM":
        action = str(comp["ACTION"].value).upper()
        if action in ("DISPLAY", "EMAIL") and "DESCRIPTION" not in comp:
            raise StrictICSError(comp.line, f"VALARM with ACTION:{action} has no DESCRIPTION")
        if action == "EMAIL" and ("SUMMARY" not in comp or "ATTENDEE" not in comp):
            raise StrictICSError(comp.line, "VALARM with ACTION:EMAIL needs SUMMARY and ATTENDEE")
        if ("DURATION" in comp) != ("REPEAT" in comp):
            raise StrictICSError(comp.line, "VALARM: DURATION and REPEAT go together")


def read(data: bytes) -> list[Component]:
    """Every VCALENDAR in ``data``, strictly checked; raises StrictICSError."""
    calendars: list[Component] = []
    stack: list[Component] = []
    for number, line in unfold(physical_lines(data)):
        name, params, raw = parse_content_line(number, line)
        if name in ("BEGIN", "END"):
            if params:
                raise StrictICSError(number, f"{name} takes no parameters")
            comp_name = raw.upper()
            if not _NAME.fullmatch(raw):
                raise StrictICSError(number, f"{name}: {raw!r} is not a component name")
            if name == "BEGIN":
                parent = stack[-1].name if stack else None
                if parent is None:
                    if comp_name != "VCALENDAR":
                        raise StrictICSError(number, f"BEGIN:{comp_name} outside a VCALENDAR")
                elif comp_name not in COMPONENTS[parent][1]:
                    raise StrictICSError(number, f"{comp_name} cannot be inside {parent}")
                comp = Component(comp_name, number)
                (stack[-1].components if stack else calendars).append(comp)
                stack.append(comp)
            else:
                if not stack:
                    raise StrictICSError(number, f"END:{comp_name} without BEGIN")
                if stack[-1].name != comp_name:
                    raise StrictICSError(number, f"END:{comp_name} closes {stack[-1].name} (opened on line {stack[-1].line})")
                _close(stack.pop())
            continue
        if not stack:
            raise StrictICSError(number, f"{name} outside any component")
        comp = stack[-1]
        if comp.name == "VCALENDAR" and comp.components:
            raise StrictICSError(number, f"calendar property {name} after the first component (§3.6)")
        rules, _ = COMPONENTS[comp.name]
        if not _is_x(name):
            if name not in PROPERTIES:
                raise StrictICSError(number, f"unknown property {name} (not RFC 5545, not X-)")
            if name not in rules:
                raise StrictICSError(number, f"{name} is not allowed in {comp.name}")
            if rules[name] in (_ONCE, _REQUIRED) and name in comp:
                raise StrictICSError(number, f"{name} appears more than once in {comp.name}")
        _check_params(number, name, params)
        value_type, value = _value(number, name, params, raw)
        comp.properties.append(Property(name, params, raw, value, value_type, number))
    if stack:
        raise StrictICSError(stack[-1].line, f"{stack[-1].name} is never closed")
    if not calendars:
        raise StrictICSError(None, "no VCALENDAR")
    return calendars


def read_one(data: bytes) -> Component:
    """The one VCALENDAR in ``data``."""
    calendars = read(data)
    if len(calendars) != 1:
        raise StrictICSError(calendars[1].line, f"{len(calendars)} VCALENDARs; expected one")
    return calendars[0]
