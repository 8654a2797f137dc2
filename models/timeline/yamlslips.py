"""The typing slips of a Chinese input method in a YAML calendar, found at the character.

PyYAML reports where its grammar broke, often a line later and in YAML jargon ("mapping
values are not allowed here"). Most broken calendars come from a few slips: a full-width
colon, an ideographic space, a Chinese comma, full-width brackets or quotes, an unclosed
``{``. ``culprit_after_failure`` and ``sure_culprit`` find them for ``yamlsrc.load``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

# --------------------------------------------------------------------------- likely culprits
#
# PyYAML reports where its grammar broke, often a line later and in YAML jargon ("mapping
# values are not allowed here"). Most broken calendars come from a few typing slips of a
# Chinese input method: a full-width colon, an ideographic space, a Chinese comma, full-width
# brackets or quotes. ``_Scanner`` walks the text line by line with just enough of YAML's
# lexical rules (comments, quoted and block scalars, flow collections, plain scalars and
# their continuation lines) to find those characters where YAML syntax belongs, so that the
# message can point at the character itself and say what to type instead.
#
# A culprit is ``sure`` when the text is wrong even if PyYAML accepts it (``version：1`` is the
# string 'version：1'); those are refused after a successful parse too. The others are only
# suspects when PyYAML has failed near them.

_IDENT = r"[A-Za-z_][A-Za-z0-9_-]*|[0-9]+"  # a key as calendars write them (years too)
_CALENDAR_KEY = re.compile(r"[a-z][a-z0-9_-]*")  # in block style, only these make a slip sure
# What follows the indentation when the line is YAML structure rather than text
_STRUCTURE = re.compile(rf"(?:{_IDENT})[ \u3000]*(?::(?=[ \u3000]|$)|：)|[-－](?:[ \u3000]|$)|[{{\[#'\"]")
_KEY_FW_COLON = re.compile(rf"({_IDENT})[ \u3000]*：")
_KEY_SPACE_COLON = re.compile(rf"({_IDENT})\u3000+$")  # the run ends where ': ' begins
_KEY_COLON_IDEO = re.compile(rf"({_IDENT}):\u3000")  # b:　1 is the text 'b:　1'; a tab after ':' ends the key
_ASCII_ITEMS = re.compile(r"[A-Za-z0-9_.-]+(?:[ ]*[，、][ ]*[A-Za-z0-9_.-]+)+")
_FLOW_COMMA = re.compile(r"[A-Za-z0-9_.-] *+(?P<comma>[，、]) *+(?=[A-Za-z0-9_-])")
_COMMA_BEFORE_KEY = re.compile(rf"(?P<comma>[，、]) *+(?:{_IDENT})$")  # the run ends at the key's ':'
_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*[ \t]*(?:#.*)?$")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# Cheap test before looking for sure culprits in text PyYAML accepted.
_SURE_TRIGGER = re.compile("[：\u3000－［｛]|[A-Za-z0-9_.-] *[，、]")

_DASHES = {"－": "full-width hyphen '－' (全角连字符)", "—": "em dash '—' (破折号)", "–": "en dash '–' (连接号)"}
_FW_OPEN = {
    "｛": ("full-width brace '｛' (全角花括号)", "｝"),
    "［": ("full-width bracket '［' (全角方括号)", "］"),
    "【": ("lenticular bracket '【' (方头括号)", "】"),
}
_FW_QUOTES = {"“": ("Chinese quotation mark '“' (中文引号)", "”", '"'), "‘": ("Chinese quotation mark '‘' (中文引号)", "’", "'")}
_COMMAS = {"，": "Chinese comma '，' (中文逗号)", "、": "enumeration comma '、' (顿号)"}
_IDEOGRAPHIC = "ideographic space U+3000 (全角空格)"
_TAB = "a tab (制表符)"
_OPEN_NAMES = {"{": ("'{' (左花括号)", "}", "entry of this mapping"), "[": ("'[' (左方括号)", "]", "item of this list")}


@dataclass(frozen=True, order=True)
class _Culprit:
    line: int  # 1-based, like Mark
    column: int
    message: str = field(compare=False)
    sure: bool = field(compare=False, default=False)


@dataclass
class _Open:
    char: str
    line: int
    column: int
    closed_by: tuple[str, int, int] | None = None  # a wrong closer that ended it


class _Scanner:
    """One pass over the lines of ``text``; ``culprits`` in text order, at most one per line."""

    def __init__(self) -> None:
        self.culprits: list[_Culprit] = []
        self.flow: list[_Open] = []
        self.misclosed: list[_Open] = []  # brackets ended by the wrong closer ('[' by '}')
        self.entry_start = False  # in flow: the next token starts an entry (key position)
        self.quote: str | None = None  # an open quoted scalar continues on the next line
        self.block_indent: int | None = None  # inside a block scalar (| or >) owned at this column
        self.plain_owner: int | None = None  # a plain scalar owned at this column may continue
        self.lineno = 0

    # ---- driving

    def run(self, text: str, last_line: int | None = None) -> _Scanner:
        """Scan up to and including ``last_line`` (1-based), or the whole text."""
        self.last_line = last_line if last_line is not None else 1 << 62
        pos = 0
        for m in _LINE_BREAK.finditer(text):
            if not self._line(text[pos : m.start()]):
                return self
            pos = m.end()
        self._line(text[pos:])
        return self

    def _line(self, s: str) -> bool:
        self.lineno += 1
        if self.lineno > self.last_line:
            return False
        if self.lineno == 1 and s.startswith("\ufeff"):
            s = " " + s[1:]  # keeps the columns; the BOM is not content
        j = 0
        if self.quote is not None:
            j = self._quote_end(s, 0, self.quote)
            if j < 0:
                return True
            self.quote = None
            if self.flow:
                self._flow(s, j)
            else:
                self._after_node(s, j, owner=0)
            return True
        if self.flow:
            self._flow(s, 0)
            return True
        lead = len(s) - len(s.lstrip(" "))
        if self.block_indent is not None:
            if lead == len(s) or lead > self.block_indent or not s.strip(" \t"):
                return True
            self.block_indent = None
        body = s.lstrip(" \t\u3000")
        if not body:
            if "\u3000" in s and not (self.plain_owner is not None and lead > self.plain_owner):
                self._add(s.index("\u3000"), f"{_IDEOGRAPHIC} on an otherwise empty line; delete it", sure=True)
            return True
        j = len(s) - len(body)
        if body.startswith("#"):
            self.plain_owner = None
            return True
        if self.plain_owner is not None and lead > self.plain_owner:
            return True  # a further line of a plain scalar: text (a ' #' comment changes nothing)
        self.plain_owner = None
        for k in range(lead, j):
            if s[k] == "\t":
                self._add(k, f"{_TAB} in the indentation; indent with spaces")
                break
            if s[k] == "\u3000":
                # sure when a key or a list item follows; text might be a paragraph indented
                self._add(
                    k,
                    f"{_IDEOGRAPHIC} in the indentation; indent with half-width spaces",
                    sure=_STRUCTURE.match(body) is not None,
                )
                break
        self._block_node(s, j, at_key=True, owner=j)
        return True

    def _add(self, col0: int, message: str, *, sure: bool = False) -> None:
        if self.culprits and self.culprits[-1].line == self.lineno:
            return  # the first slip on a line is the one to fix first
        self.culprits.append(_Culprit(self.lineno, col0 + 1, message, sure))

    # ---- block context

    def _block_node(self, s: str, j: int, *, at_key: bool, owner: int) -> None:
        n = len(s)
        while j < n:
            c = s[j]
            nxt = s[j + 1] if j + 1 < n else " "
            if at_key and c == "-" and nxt in " \t\u3000":
                if nxt == "\t":
                    self._add(j + 1, f"{_TAB} after the list dash '-'; type a space instead")
                elif nxt == "\u3000":
                    self._add(j + 1, f"{_IDEOGRAPHIC} after the list dash '-'; type a half-width space instead", sure=True)
                owner = j
                j = _skip(s, j + 1, " \t\u3000" if nxt != " " else " ")
                continue
            if at_key and c in "\u3000\t":  # after '- ': the item would start with it
                if c == "\u3000":
                    self._add(
                        j,
                        f"{_IDEOGRAPHIC} after the list dash '- '; delete it",
                        sure=_STRUCTURE.match(s, _skip(s, j, "\u3000")) is not None,
                    )
                else:
                    self._add(j, f"{_TAB} after the list dash '-'; type a space instead")
                j = _skip(s, j, " \t\u3000")
                continue
            if at_key and c in _DASHES and nxt in " \u3000":
                self._add(
                    j, f"{_DASHES[c]} used as a list marker; type a half-width hyphen '-' followed by a space", sure=c == "－"
                )
                owner = j
                j = _skip(s, j + 1, " \u3000")
                continue
            if c == "?" and nxt in " \t":
                j = _skip(s, j + 1, " \t")
                continue
            if c in "&!":  # anchor or tag: the node follows
                j = _skip(s, _find_any(s, j, " \t"), " \t")
                continue
            if c in "'\"":
                end = self._quote_end(s, j + 1, c)
                if end < 0:
                    self.quote = c
                    return
                self._after_node(s, end, owner)
                return
            if c in "{[":
                self._flow(s, j)
                return
            if c == "#":
                return
            if not at_key and c in "|>" and _BLOCK_HEADER.match(s, j):
                self.block_indent = owner
                return
            end, colon = _plain_end(s, j, flow=False)
            run = s[j:end]
            self._fw_open(s, j, end, colon=colon)
            if at_key:
                self._key_run(run, j, colon=colon, flow_map=False)
            if colon:  # a key: its value follows
                owner = j if at_key else owner
                at_key = False
                j = _skip(s, end + 1, " ")
                if j < n and s[j] == "\t":
                    self._add(j, f"{_TAB} after the colon; type a space instead")
                    j = _skip(s, j, " \t")
                continue
            if not s[end:].strip(" \t"):
                self.plain_owner = owner  # it may go on on the next, more indented line
            return

    def _after_node(self, s: str, j: int, owner: int) -> None:
        j = _skip(s, j, " \t")
        if j < len(s) and s[j] == ":" and (j + 1 == len(s) or s[j + 1] in " \t"):
            self._block_node(s, _skip(s, j + 1, " \t"), at_key=False, owner=owner)

    def _key_run(self, run: str, col0: int, *, colon: bool, flow_map: bool) -> None:
        """A plain scalar where a key may stand: a full-width colon or an ideographic space at its colon.
        Sure at a key of a flow mapping, or in block style before a key as calendars spell them
        (``- A：优秀`` may be a list item's text)."""

        def add(col: int, message: str, key: str) -> None:
            self._add(col, message, sure=flow_map or _CALENDAR_KEY.fullmatch(key) is not None)

        m = _KEY_FW_COLON.match(run)
        if m:
            add(
                col0 + m.end() - 1,
                f"full-width colon '：' (全角冒号) after the key '{m.group(1)}'; type a half-width colon ':' followed by a space",
                m.group(1),
            )
            return
        m = _KEY_COLON_IDEO.match(run)
        if m:
            add(
                col0 + m.end() - 1,
                f"{_IDEOGRAPHIC} after the colon of the key '{m.group(1)}'; type a half-width space instead",
                m.group(1),
            )
            return
        m = _KEY_SPACE_COLON.match(run) if colon else None
        if m:
            add(col0 + m.end(1), f"{_IDEOGRAPHIC} between the key '{m.group(1)}' and its colon; delete it", m.group(1))

    def _fw_open(self, s: str, j: int, end: int, *, colon: bool) -> None:
        """Full-width brackets or quotes at the start of the plain scalar ``s[j:end]``, where YAML's own belong."""
        c = s[j]
        if c not in _FW_OPEN and c not in _FW_QUOTES:
            return
        close = _FW_OPEN[c][1] if c in _FW_OPEN else _FW_QUOTES[c][1]
        k = s.find(close, j + 1, end)  # bounded by the scalar: runs do not overlap, so linear
        after = _skip(s, end, " \t")
        # PyYAML stopped the text at a ':' or ',' inside the brackets or quotes
        broken = k < 0 and after < len(s) and s[after] != "#"
        if c in _FW_OPEN:
            name = _FW_OPEN[c][0]
            inner = s[j + 1 : k] if k >= 0 else ""
            # ［a, b］ or ［x］ as the whole value was meant as a list; 【通知】 is ordinary text
            whole = k == end - 1 and (c != "【" or "," in inner or ": " in inner)
            mapping = colon if broken else ": " in inner
            yaml_open, yaml_close, what = ("{", "}", "mapping") if mapping else ("[", "]", "list")
            if broken or whole:
                self._add(
                    j,
                    f"{name} does not open a YAML {what}; type a half-width '{yaml_open}' and close it with '{yaml_close}'",
                    sure=whole and c != "【",
                )
        else:
            name, close, ascii_quote = _FW_QUOTES[c]
            # only when PyYAML cut the text short: “1256” alone may well be a title
            if broken:
                self._add(
                    j,
                    f"{name} does not quote text in YAML; type a half-width quote {ascii_quote} here and at the end of the text (instead of '{close}')",
                )

    # ---- flow context

    def _flow(self, s: str, j: int) -> None:
        n = len(s)
        value_start = False
        while j < n:
            c = s[j]
            if c in " \t":
                j += 1
                continue
            if c == "#" and (j == 0 or s[j - 1] in " \t"):
                return
            if c in "{[":
                self.flow.append(_Open(c, self.lineno, j + 1))
                self.entry_start, value_start = True, False
                j += 1
                continue
            if c in "}]":
                if self.flow:
                    top = self.flow.pop()
                    if (top.char == "{") != (c == "}"):
                        top.closed_by = (c, self.lineno, j + 1)
                        self.misclosed.append(top)
                        if self.flow and self.flow[-1].char == ("{" if c == "}" else "["):
                            self.flow.pop()
                j += 1
                self.entry_start = value_start = False
                if not self.flow:
                    self._after_node(s, j, owner=0)
                    return
                continue
            if c == ",":
                self.entry_start, value_start = True, False
                j += 1
                continue
            if c == ":" and (j + 1 == n or s[j + 1] in " \t,[]{}"):
                self.entry_start, value_start = False, True
                j += 1
                continue
            if c == "?" and (j + 1 == n or s[j + 1] in " \t"):
                j += 1
                continue
            if c in "&!":
                j = _find_any(s, j, " \t,[]{}")
                continue
            if c in "'\"":
                end = self._quote_end(s, j + 1, c)
                if end < 0:
                    self.quote = c
                    return
                j = end
                self.entry_start = value_start = False
                continue
            end, colon = _plain_end(s, j, flow=True)
            run = s[j:end]
            in_map = bool(self.flow) and self.flow[-1].char == "{"
            if self.entry_start:
                self._key_run(run, j, colon=colon, flow_map=in_map)
            if c == "\u3000" and (self.entry_start or value_start):
                token = run.lstrip("\u3000")[:20]
                self._add(j, f"{_IDEOGRAPHIC} before {token!r}; type a half-width space instead", sure=self.entry_start)
            self._fw_open(s, j, end, colon=colon)
            self._commas(run, j, in_map=in_map, colon=colon)
            self.entry_start = value_start = False
            j = end

    def _commas(self, run: str, col0: int, *, in_map: bool, colon: bool) -> None:
        """A Chinese comma used as the separator of a flow collection: before the next key of a
        mapping (``{name: 长春市，kind: city}``: PyYAML reads the key '长春市，kind'), or between
        two ASCII items (``[2023，2024]``: the one item '2023，2024')."""
        if "，" not in run and "、" not in run:
            return
        where = "'{…}'" if in_map else "'[…]'"
        m = _COMMA_BEFORE_KEY.search(run) if in_map and colon else None
        sure = False
        if m is None:
            m = _FLOW_COMMA.search(run)
            sure = m is not None and not in_map and _ASCII_ITEMS.fullmatch(run.strip(" ")) is not None
        if m is not None:
            ch = m.group("comma")
            self._add(
                col0 + m.start("comma"),
                f"{_COMMAS[ch]} used to separate the entries of {where}; type a half-width comma ',' followed by a space",
                sure=sure,
            )

    # ---- quoted scalars

    @staticmethod
    def _quote_end(s: str, j: int, q: str) -> int:
        """Index just after the closing quote, or -1 if the scalar goes on to the next line.
        Every ``find`` starts after the previous one: linear in the line."""
        n = len(s)
        k = s.find(q, j)
        b = s.find("\\", j) if q == '"' else -1
        while k >= 0:
            if q == '"' and 0 <= b < k:
                j = b + 2  # an escape, which may be an escaped quote
                b = s.find("\\", j)
                if k < j:
                    k = s.find(q, j)
                continue
            if q == "'" and k + 1 < n and s[k + 1] == "'":
                k = s.find(q, k + 2)  # '' is a quote inside the scalar
                continue
            return k + 1
        return -1


def _skip(s: str, j: int, chars: str) -> int:
    n = len(s)
    while j < n and s[j] in chars:
        j += 1
    return j


def _find_any(s: str, j: int, chars: str) -> int:
    n = len(s)
    while j < n and s[j] not in chars:
        j += 1
    return j


# Blank runs are matched from their first blank only, and possessively: no quadratic retries.
_PLAIN_END_BLOCK = re.compile(r":(?=[ \t]|$)|(?<![ \t])[ \t]++(?:#|$)")
_PLAIN_END_FLOW = re.compile(r":(?=[ \t,\[\]{}]|$)|(?<![ \t])[ \t]*+(?:[,\[\]{}]|#|$)")


def _plain_end(s: str, j: int, *, flow: bool) -> tuple[int, bool]:
    """Where the plain scalar starting at ``j`` ends (trailing blanks excluded), and whether a ':' ends it."""
    m = (_PLAIN_END_FLOW if flow else _PLAIN_END_BLOCK).search(s, j + 1)
    if m is None:
        return len(s), False
    return m.start(), s[m.start() : m.start() + 1] == ":"


def culprit_after_failure(text: str, exc: yaml.MarkedYAMLError) -> _Culprit | None:
    """The slip that most likely made PyYAML fail: the nearest one up to PyYAML's line."""
    pm = exc.problem_mark
    if pm is None:
        return None
    problem, context, cm = exc.problem or "", exc.context or "", exc.context_mark
    line, col = pm.line + 1, pm.column + 1
    scanner = _Scanner().run(text, last_line=line)
    first = min(cm.line + 1, line - 1) if cm is not None else line - 1
    found = [c for c in scanner.culprits if c.sure or c.line >= first]
    if cm is not None and context.startswith("while parsing a flow"):
        # PyYAML's context mark is the bracket whose collection it was reading
        at = (cm.line + 1, cm.column + 1)
        for b in scanner.misclosed:
            if (b.line, b.column) == at and b.closed_by is not None:
                name, close, what = _OPEN_NAMES[b.char]
                wrong, wl, wc = b.closed_by
                where = f"column {wc}" if wl == b.line else f"line {wl} column {wc}"
                found.append(
                    _Culprit(
                        b.line,
                        b.column,
                        f"{name} opened here is never closed (the '{wrong}' at {where} closes something else); type '{close}' after the last {what}",
                    )
                )
        for b in scanner.flow:  # still open where PyYAML stopped, and not closed on its own line
            if (b.line, b.column) == at and (b.line < line or "<stream end>" in problem):
                name, close, what = _OPEN_NAMES[b.char]
                found.append(
                    _Culprit(b.line, b.column, f"{name} opened here is never closed; type '{close}' after the last {what}")
                )
    if cm is not None and context.startswith("while scanning a quoted scalar") and "end of stream" in problem:
        q = _quote_char(text, cm)
        found.append(
            _Culprit(
                cm.line + 1,
                cm.column + 1,
                f"the quote {q} opened here is never closed; type the closing {q} at the end of the text",
            )
        )
    if "'\\t'" in problem and not any((c.line, c.column) == (line, col) for c in found):
        found.append(_Culprit(line, col, f"{_TAB} where YAML does not accept one; type spaces instead"))
    return max(found, default=None)


def _quote_char(text: str, mark: yaml.Mark) -> str:
    ch = text[mark.index] if 0 <= mark.index < len(text) else '"'
    return ch if ch in "'\"" else '"'


def sure_culprit(text: str) -> _Culprit | None:
    """A slip in text PyYAML accepted that certainly changed its meaning (``version：1``)."""
    if _SURE_TRIGGER.search(text) is None:
        return None
    return next((c for c in _Scanner().run(text).culprits if c.sure), None)
