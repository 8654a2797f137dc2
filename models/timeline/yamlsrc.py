"""Read YAML into plain data while remembering where every value and key stood.

Calendars are edited by hand; every problem must name the file, line and column.
PyYAML's composer gives each node its position; we build the Python values
ourselves from the node tree so that we also:

* accept only the plain YAML types (mappings, sequences, strings, numbers,
  booleans, null, dates) and refuse every other tag (``!!python/object`` …);
* refuse aliases (``*x``) and merge keys (``<<``): they are how "billion laughs"
  bombs are built, and a calendar gains nothing from them;
* refuse duplicate keys, which plain PyYAML silently overwrites;
* name the typing slip behind a syntax error (a full-width colon, an ideographic space, a
  Chinese comma, full-width brackets, an unclosed ``{``) at the character itself, not where
  PyYAML noticed it a line later, and refuse the slips PyYAML silently reads as text
  (``{month：3}`` is the key 'month：3').
"""

from __future__ import annotations


from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .yamlslips import culprit_after_failure, sure_culprit

Path = tuple[str | int, ...]

_PLAIN_SCALARS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

MAX_BYTES = 2_000_000  # a calendar is a few tens of kB; refuse to parse a monster
MAX_NODES = 200_000


@dataclass(frozen=True, order=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


class YamlError(Exception):
    """The text is not YAML we accept. ``mark`` says where."""

    def __init__(self, message: str, mark: Mark):
        super().__init__(message)
        self.message = message
        self.mark = mark


@dataclass
class SourceMap:
    """Positions of values and of mapping keys, by data path."""

    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def locate(self, path: Path, *, prefer_key: bool = False) -> Mark:
        """The position of ``path``, or of its deepest ancestor that exists."""
        for n in range(len(path), -1, -1):
            p = path[:n]
            if prefer_key and n == len(path) and p in self.keys:
                return self.keys[p]
            if p in self.values:
                return self.values[p]
        return Mark(1, 1)


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self) -> None:
        self.smap = SourceMap()
        self.seen: set[int] = set()
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def build(self, node: Node, path: Path) -> Any:
        if id(node) in self.seen:
            raise YamlError("anchors and aliases (&name / *name) are not allowed in calendars; write the value out", _mark(node))
        self.seen.add(id(node))
        if len(self.seen) > MAX_NODES:
            raise YamlError(f"the document has more than {MAX_NODES} values; a calendar should be far smaller", _mark(node))
        self.smap.values[path] = _mark(node)
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                raise YamlError(f"the tag {_tag(node.tag)} is not allowed; calendars use plain YAML only", _mark(node))
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise YamlError("merge keys (<<) are not allowed in calendars; write the keys out", _mark(key_node))
                if not isinstance(key_node, ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                    raise YamlError(
                        f"mapping keys must be plain text, got {_describe(key_node)}; quote it if you meant text",
                        _mark(key_node),
                    )
                key = key_node.value
                if key in out:
                    first = self.smap.keys[path + (key,)]
                    raise YamlError(f"duplicate key '{key}' (first given at line {first.line})", _mark(key_node))
                self.smap.keys[path + (key,)] = _mark(key_node)
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                raise YamlError(f"the tag {_tag(node.tag)} is not allowed; calendars use plain YAML only", _mark(node))
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        if node.tag not in _PLAIN_SCALARS:
            raise YamlError(f"the tag {_tag(node.tag)} is not allowed; calendars use plain YAML only", _mark(node))
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            where = _plain_path(path)
            if node.tag.endswith(":timestamp"):  # e.g. 2023-02-30
                raise YamlError(f"{where}: {node.value!r} is not a real date ({_first_line(exc)})", _mark(node)) from None
            raise YamlError(f"{where}: cannot read {node.value!r} ({_first_line(exc)})", _mark(node)) from None


def _plain_path(path: Path) -> str:
    out = ""
    for elem in path:
        out += f"[{elem}]" if isinstance(elem, int) else ("." if out else "") + elem
    return out or "(top level)"


def _tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _describe(node: Node) -> str:
    if isinstance(node, ScalarNode):
        kind = node.tag.rsplit(":", 1)[-1]
        return f"{kind} {node.value!r}"
    return "a mapping" if isinstance(node, MappingNode) else "a list"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# libyaml's parser, when PyYAML has it, composes ~6× faster than the pure-Python one; a
# text it refuses is parsed again by the pure one, whose messages the slip finder knows.
_FAST = getattr(yaml, "CSafeLoader", None)


def _compose(text: str) -> Node | None:
    if _FAST is not None:
        try:
            fast = _FAST(text)
            try:
                return fast.get_single_node()
            finally:
                fast.dispose()
        except (yaml.YAMLError, ValueError, RecursionError):
            pass  # said precisely below
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load(text: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; return its data and source map, or raise :class:`YamlError`."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(f"the file is larger than {MAX_BYTES // 1_000_000} MB; a calendar should be far smaller", Mark(1, 1))
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        culprit = culprit_after_failure(text, exc)
        if culprit is not None:
            raise YamlError(culprit.message, Mark(culprit.line, culprit.column)) from None
        m = exc.problem_mark or exc.context_mark
        mark = Mark(m.line + 1, m.column + 1) if m else Mark(1, 1)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        hint = "; check the indentation of this line and the one before" if "block" in problem else ""
        raise YamlError(f"not valid YAML: {problem}{hint}", mark) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {_first_line(exc)}", Mark(1, 1)) from None
    except RecursionError:
        raise YamlError("not valid YAML: nesting is too deep", Mark(1, 1)) from None
    if node is None:
        raise YamlError("the file is empty", Mark(1, 1))
    culprit = sure_culprit(text)
    if culprit is not None:
        raise YamlError(culprit.message, Mark(culprit.line, culprit.column))
    builder = _Builder()
    try:
        data = builder.build(node, ())
    except RecursionError:
        raise YamlError("nesting is too deep for a calendar", Mark(1, 1)) from None
    return data, builder.smap
