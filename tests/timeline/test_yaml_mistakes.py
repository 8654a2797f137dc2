"""YAML slips a Chinese input method makes, on broken copies of the shipped Jilin calendar.

PyYAML reports most of them a line late and in its own jargon ("mapping values are not
allowed here"). The validator must point at the offending character itself (line and
column, 1-based), name it with its Chinese name and say what to type instead. Positions are
found from the broken text, so the cases follow the calendar if it is edited."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, SequenceNode

from models.timeline.loader import CalendarInvalid, load_programme_file
from models.timeline.yamlslips import _Scanner
from models.timeline.yamlsrc import YamlError, load
from tests.conftest import hang_guard
from tests.conftest import JILIN

IDEO = "\u3000"  # ideographic space, 全角空格: looks like two half-width spaces

ANNOUNCED_DUE = "        due: {rule: end_of_month, month: 3}\n        form: industry-announcement"
FEEDBACK_TITLE = "    title: 专家反馈会：产业提升方案"

# name: (old text, new text, marker, fragments the message must contain)
# The marker is a substring of the new text; the problem must be at its first character.
CASES = {
    "full-width colon, no space": (
        "  title: 深入开展质量提升行动三年计划\n",
        "  title：深入开展质量提升行动三年计划\n",
        "：深入开展",
        ["full-width colon '：' (全角冒号)", "after the key 'title'", "type a half-width colon ':' followed by a space"],
    ),
    "full-width colon and a space": (
        "    holder: quality-division\n",
        "    holder： quality-division\n",
        "： quality-division",
        ["full-width colon '：' (全角冒号)", "after the key 'holder'", "type a half-width colon ':'"],
    ),
    "full-width colon before a nested mapping": (
        "  defaults:\n",
        "  defaults：\n",
        "：\n",
        ["full-width colon '：' (全角冒号)", "after the key 'defaults'"],
    ),
    "full-width colon in a list item": (
        "  - id: divisions-and-units\n",
        "  - id：divisions-and-units\n",
        "：divisions-and-units",
        ["full-width colon '：' (全角冒号)", "after the key 'id'"],
    ),
    "full-width colon in a flow mapping": (  # PyYAML accepts it: the key 'month：3' with no value
        ANNOUNCED_DUE,
        ANNOUNCED_DUE.replace("month: 3}", "month：3}"),
        "：3}",
        ["full-width colon '：' (全角冒号)", "after the key 'month'", "type a half-width colon ':' followed by a space"],
    ),
    "full-width colon on the first key": (
        "version: 1\n",
        "version：1\n",
        "：1\n",
        ["full-width colon '：' (全角冒号)", "after the key 'version'"],
    ),
    "full-width colon before a flow mapping": (  # PyYAML accepts it: the key 'source： {clause'
        "    title: 年度重点服务产业领域和拟提升企业申报条件\n    source: {clause: 三、（三）}\n",
        "    title: 年度重点服务产业领域和拟提升企业申报条件\n    source： {clause: 三、（三）}\n",
        "： {clause",
        ["full-width colon '：' (全角冒号)", "after the key 'source'"],
    ),
    "ideographic space as indentation": (  # one U+3000 looks like the two spaces it replaces
        "  issuer: 吉林省市场监督管理厅\n",
        IDEO + "issuer: 吉林省市场监督管理厅\n",
        IDEO + "issuer",
        ["ideographic space U+3000 (全角空格)", "in the indentation", "indent with half-width spaces"],
    ),
    "ideographic space before the last key of a mapping": (  # PyYAML accepts it and loses the key
        "    reminder_policy: submission\n\nroles:",
        IDEO + "  reminder_policy: submission\n\nroles:",
        IDEO + "  reminder_policy",
        ["ideographic space U+3000 (全角空格)", "in the indentation"],
    ),
    "ideographic space inside the indentation": (
        "    holder: quality-division\n",
        "  " + IDEO + "holder: quality-division\n",
        IDEO + "holder",
        ["ideographic space U+3000 (全角空格)", "in the indentation"],
    ),
    "ideographic space after a colon": (
        "    value: 5\n",
        "    value:" + IDEO + "5\n",
        IDEO + "5",
        ["ideographic space U+3000 (全角空格)", "after the colon of the key 'value'", "type a half-width space"],
    ),
    "ideographic space after the list dash": (
        "      - quality-division\n",
        "      -" + IDEO + "quality-division\n",
        IDEO + "quality-division",
        ["ideographic space U+3000 (全角空格)", "after the list dash"],
    ),
    "tab as indentation": (
        "  issuer: 吉林省市场监督管理厅\n",
        "\tissuer: 吉林省市场监督管理厅\n",
        "\tissuer",
        ["a tab (制表符) in the indentation; indent with spaces"],
    ),
    "unclosed brace": (
        ANNOUNCED_DUE,
        ANNOUNCED_DUE.replace("month: 3}", "month: 3"),
        "{rule: end_of_month, month: 3\n",
        ["'{' (左花括号) opened here is never closed", "type '}'"],
    ),
    "unclosed bracket": (
        "    members: [quality-service-provider]\n",
        "    members: [quality-service-provider\n",
        "[quality-service-provider\n",
        ["'[' (左方括号) opened here is never closed", "type ']'"],
    ),
    "Chinese comma in a flow mapping": (
        ANNOUNCED_DUE,
        ANNOUNCED_DUE.replace("end_of_month, month", "end_of_month，month"),
        "，month",
        ["Chinese comma '，' (中文逗号)", "type a half-width comma ','"],
    ),
    "Chinese comma after Chinese text": (  # the input method is still in Chinese mode
        "  - {id: changchun, name: 长春市市场监督管理局, kind: city}\n",
        "  - {id: changchun, name: 长春市市场监督管理局，kind: city}\n",
        "，kind",
        ["Chinese comma '，' (中文逗号)", "'{…}'", "type a half-width comma ',' followed by a space"],
    ),
    "Chinese comma in a flow list": (  # PyYAML accepts it: one item '2023，2024'
        "        years: [2023, 2024]\n        form: policy-volume",
        "        years: [2023，2024]\n        form: policy-volume",
        "，2024]",
        ["Chinese comma '，' (中文逗号)", "'[…]'", "type a half-width comma ','"],
    ),
    "enumeration comma in a flow list": (
        "[changchun, jilin-city, siping, liaoyuan, tonghua, baishan, songyuan, baicheng, yanbian]\n",
        "[changchun、jilin-city, siping, liaoyuan, tonghua, baishan, songyuan, baicheng, yanbian]\n",
        "、jilin-city",
        ["enumeration comma '、' (顿号)", "type a half-width comma ','"],
    ),
    "full-width braces": (
        ANNOUNCED_DUE,
        ANNOUNCED_DUE.replace("{rule: end_of_month, month: 3}", "｛rule: end_of_month, month: 3｝"),
        "｛rule",
        ["full-width brace '｛' (全角花括号)", "type a half-width '{' and close it with '}'"],
    ),
    "full-width brackets": (  # PyYAML accepts it: the text '［quality-service-provider］'
        "    members: [quality-service-provider]\n",
        "    members: ［quality-service-provider］\n",
        "［quality",
        ["full-width bracket '［' (全角方括号)", "type a half-width '[' and close it with ']'"],
    ),
    "lenticular brackets": (
        ANNOUNCED_DUE,
        ANNOUNCED_DUE.replace("{rule: end_of_month, month: 3}", "【rule: end_of_month, month: 3】"),
        "【rule",
        ["lenticular bracket '【' (方头括号)", "type a half-width '{'"],
    ),
    "Chinese quotation marks": (
        FEEDBACK_TITLE,
        "    title: “专家反馈会: 产业提升方案”",
        "“专家",
        ["Chinese quotation mark '“' (中文引号)", 'type a half-width quote "', "instead of '”'"],
    ),
    "full-width hyphen as a list marker": (
        "      - standardization-division\n",
        "      － standardization-division\n",
        "－ standardization",
        ["full-width hyphen '－' (全角连字符)", "type a half-width hyphen '-' followed by a space"],
    ),
}


def _position(text: str, marker: str) -> tuple[int, int]:
    assert text.count(marker) == 1, f"{marker!r} must occur once in the broken text"
    before = text[: text.index(marker)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _broken(jilin_text: str, name: str) -> tuple[str, tuple[int, int], list[str]]:
    old, new, marker, fragments = CASES[name]
    assert jilin_text.count(old) == 1, f"{name}: the shipped calendar changed; update the case"
    broken = jilin_text.replace(old, new)
    return broken, _position(broken, marker), fragments


@pytest.mark.parametrize("name", list(CASES))
def test_the_slip_is_named_where_it_was_typed(name, jilin_text, calendar_copy):
    broken, (line, column), fragments = _broken(jilin_text, name)
    with pytest.raises(CalendarInvalid) as info:
        load_programme_file(calendar_copy(broken))
    problems = info.value.problems
    assert len(problems) == 1, problems
    p = problems[0]
    assert (p.line, p.column) == (line, column), f"{name}: at {p.line}:{p.column}, expected {line}:{column}: {p.message}"
    for fragment in fragments:
        assert fragment in p.message, f"{name}: {fragment!r} not in {p.message!r}"
    assert "not valid YAML" not in p.message  # PyYAML's jargon is replaced, not appended


def test_through_the_cli(cli, jilin_text, calendar_copy):
    broken, (line, column), _ = _broken(jilin_text, "ideographic space as indentation")
    path = calendar_copy(broken)
    result = cli("validate", path)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{path}:{line}:{column}: ideographic space U+3000 (全角空格) in the indentation; indent with half-width spaces"
    ]
    assert "Traceback" not in result.stdout + result.stderr


# --------------------------------------------------------------------------- what PyYAML does


def test_pyyaml_reports_these_on_the_next_line():
    """Why the culprit search exists: PyYAML's own position is a line after the slip."""
    for text, slip_line in [
        ("a:\n  title：标题\n  b: 1\n", 2),
        ("a:\n" + IDEO + " b: 1\n  c: 2\n", 2),
        ("a:\n  b: {x: 1, y: 2\n  c: 2\n", 2),
    ]:
        with pytest.raises(yaml.MarkedYAMLError) as info:
            yaml.safe_load(text)
        assert info.value.problem_mark.line + 1 == slip_line + 1  # PyYAML's marks are 0-based: the next line
        with pytest.raises(YamlError) as ours:
            load(text)
        assert ours.value.mark.line == slip_line


@pytest.mark.parametrize(
    "text",
    [
        "title: 专家反馈会：产业提升方案\n",  # a full-width colon inside a value is text
        "choices:\n  - A：优秀\n  - B：良好\n",  # and so is a list item's label
        "title: “陇质惠”平台入驻情况\nother: “1256”\n",  # Chinese quotes in Chinese text
        "title: 【通知】质量提升\nquote: 第3、4条\nlabel: {name: 涉及县（市、区）}\n",
        "quote:\n  " + IDEO * 2 + "第一段\n  " + IDEO * 2 + "第二段\n",  # paragraphs indented
        "note: >-\n  title：x\n  " + IDEO + "- ｛x: 1｝\nnext: 1\n",  # anything goes in a block scalar
        "a: \"x：\n  y，z\"\nb: 'it''s: ［1］'\nc: x # title：y\n",  # in quotes and comments
    ],
)
def test_full_width_characters_in_text_are_left_alone(text):
    load(text)


def test_existing_refusals_still_hold():
    for text, message in [
        ("a: &x 1\nb: *x\n", "anchors and aliases"),
        ("<<: {a: 1}\n", "merge keys"),
        ("a: !!python/name:os.system 1\n", "the tag !!python/name:os.system is not allowed"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: [1\n", "'[' (左方括号) opened here is never closed"),
    ]:
        with pytest.raises(YamlError, match=re.escape(message)):
            load(text)


def test_the_search_stays_fast_on_a_large_file(jilin_text):
    text = jilin_text * 40 + "tail:\n  title：x\n  b: 1\n"  # about 1.3 MB, the slip at the very end
    with hang_guard(30, "scanning a 1.3 MB calendar"):  # a hang guard: its speed is not asserted here
        scanner = _Scanner().run(text)
    assert scanner.culprits and scanner.culprits[-1].line == text.count("\n") - 1


# --------------------------------------------------------------------------- property


def _key_lines(text: str) -> list[tuple[int, int, bool]]:
    """(0-based line, 0-based column of the key's colon, whether the key is in a flow mapping)."""
    out = []

    def walk(node) -> None:
        if isinstance(node, MappingNode):
            for k, v in node.value:
                if k.start_mark.line == k.end_mark.line:
                    out.append((k.start_mark.line, k.end_mark.column, bool(node.flow_style)))
                walk(v)
        elif isinstance(node, SequenceNode):
            for v in node.value:
                walk(v)

    walk(yaml.compose(text, Loader=yaml.SafeLoader))
    return out


JILIN_TEXT = JILIN.read_text(encoding="utf-8")
JILIN_LINES = JILIN_TEXT.split("\n")
KEY_LINES = _key_lines(JILIN_TEXT)


@st.composite
def slips(draw):
    line, colon, flow = draw(st.sampled_from(KEY_LINES))
    s = JILIN_LINES[line]
    assert s[colon] == ":"
    indent = len(s) - len(s.lstrip(" "))
    kinds = ["colon", "colon-nospace"] + ([] if flow else ["ideo-insert", "ideo-for-two"] if indent >= 2 else ["ideo-insert"])
    kind = draw(st.sampled_from(kinds))
    if kind == "colon":
        new = s[:colon] + "：" + s[colon + 1 :]
    elif kind == "colon-nospace":
        new = s[:colon] + "：" + s[colon + 1 :].removeprefix(" ")
    elif kind == "ideo-insert":  # anywhere in the indentation, or after the list dash
        at = draw(st.integers(0, len(s) - len(s.lstrip(" -"))))
        new = s[:at] + IDEO + s[at:]
    else:  # the coordinator typed one full-width space for two half-width ones
        at = draw(st.integers(0, indent - 2))
        new = s[:at] + IDEO + s[at + 2 :]
    return line, kind, new


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(slips())
def test_a_slip_on_a_key_line_is_reported_on_that_line(tmp_path_factory, slip):
    line, kind, new = slip
    text = "\n".join(JILIN_LINES[:line] + [new] + JILIN_LINES[line + 1 :])
    path = tmp_path_factory.mktemp("calendar") / JILIN.name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarInvalid) as info:
        load_programme_file(path)
    problems = info.value.problems
    assert [p.line for p in problems] == [line + 1], (kind, new, problems)
    named = "'：' (全角冒号)" if kind.startswith("colon") else "U+3000 (全角空格)"
    assert named in problems[0].message, (kind, new, problems)
    assert new[problems[0].column - 1] in "：" + IDEO, (kind, new, problems)
