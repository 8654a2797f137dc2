"""Form payload validation: every rule fails and passes; all problems are reported at once."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.forms import PayloadInvalid, load_payload, measure_value, sample_payload, validate_payload
from models.timeline import ProgrammeFile, load_programme_file
from tests.conftest import JILIN

SPEC = ProgrammeFile.model_validate(
    {
        "version": 1,
        "programme": {"id": "p", "title": "t", "issuer": "i", "years": {"first": 2023, "last": 2023}},
        "parameters": [{"id": "most", "title": "最多", "value": 3}],
        "participants": [{"id": "city-a", "name": "甲市", "kind": "city"}],
        "forms": [
            {
                "id": "f",
                "title": "表",
                "fields": [
                    {"id": "count", "label": "服务企业数", "type": "integer", "min": 0, "max": 1000},
                    {"id": "rate", "label": "合格率", "type": "number", "min": 0, "max": 100, "required": False},
                    {"id": "name", "label": "单位名称", "type": "string", "max_length": 10},
                    {"id": "done", "label": "是否完成", "type": "boolean", "required": False},
                    {"id": "day", "label": "完成日期", "type": "date", "required": False},
                    {"id": "level", "label": "等级", "type": "choice", "choices": ["优秀", "良好"], "required": False},
                    {
                        "id": "firms",
                        "label": "企业名单",
                        "type": "table",
                        "required": False,
                        "min_rows": 1,
                        "max_rows": {"parameter": "most"},
                        "columns": [
                            {"id": "firm", "label": "企业名称", "type": "string"},
                            {"id": "staff", "label": "人数", "type": "integer", "min": 1},
                        ],
                    },
                ],
            }
        ],
        "workstreams": [
            {
                "id": "w",
                "title": "w",
                "lead": ["city-a"],
                "milestones": [
                    {
                        "id": "m",
                        "title": "m",
                        "kind": "submission",
                        "form": "f",
                        "due": {"rule": "fixed", "month": 12, "day": 25},
                        "source": {"clause": "一"},
                    }
                ],
            }
        ],
    }
)
GOOD = {"count": 12, "name": "甲市局", "firms": [{"firm": "甲公司", "staff": 5}, {"firm": "乙公司", "staff": 7}]}


def problems(data) -> list[str]:
    with pytest.raises(PayloadInvalid) as info:
        validate_payload(SPEC, "f", data)
    return [str(p) for p in info.value.problems]


def test_a_good_payload_is_normalised():
    import datetime as dt

    out = validate_payload(SPEC, "f", GOOD | {"rate": 97, "day": dt.date(2023, 5, 1), "level": " 优秀 ", "name": " 甲市局 "})
    assert out["day"] == "2023-05-01" and out["level"] == "优秀" and out["name"] == "甲市局" and out["rate"] == 97
    assert validate_payload(SPEC, "f", GOOD | {"day": "2023-05-01"})["day"] == "2023-05-01"


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"count": -3}, "count (服务企业数): expected an integer ≥ 0 and ≤ 1000, got -3"),
        ({"count": "12"}, "count (服务企业数): expected an integer, got text ('12')"),
        ({"count": True}, "count (服务企业数): expected an integer, got a boolean (True)"),
        ({"count": 1.5}, "count (服务企业数): expected an integer, got a number (1.5)"),
        ({"rate": float("nan")}, "rate (合格率): expected a finite number, got nan"),
        ({"rate": 101}, "rate (合格率): expected a number ≥ 0 and ≤ 100, got 101"),
        ({"name": "一二三四五六七八九十壹"}, "name (单位名称): at most 10 characters, got 11"),
        ({"name": "  "}, "name (单位名称): required, got text ('  ')"),
        ({"name": "a\nb"}, "name (单位名称): expected one line of text, got several lines"),
        ({"done": "yes"}, "done (是否完成): expected true or false, got text ('yes')"),
        ({"day": "2023-02-30"}, "day (完成日期): expected a date YYYY-MM-DD, got text ('2023-02-30')"),
        ({"level": "差"}, "level (等级): expected one of 优秀, 良好, got text ('差')"),
        ({"firms": []}, "firms (企业名单): expected at least 1 and at most 3 rows, got 0"),
        ({"firms": [{"firm": "x", "staff": 1}] * 4}, "firms (企业名单): expected at least 1 and at most 3 rows, got 4"),
        ({"firms": [{"firm": "x", "staff": 0}]}, "firms[0].staff (企业名单 第1行 人数): expected an integer ≥ 1, got 0"),
        ({"firms": ["x"]}, "firms[0] (企业名单 第1行): expected a row mapping column → value, got text ('x')"),
        (
            {"firms": [{"firm": "x", "staff": 1, "extra": 1}]},
            "firms[0].extra: unknown field in a row of firms; allowed: firm, staff",
        ),
        ({"colour": "red"}, "colour: unknown field in form f; allowed: count, rate, name, done, day, level, firms"),
        ({"name": "x" * 100_001}, "name (单位名称): at most 10 characters, got 100001"),
    ],
)
def test_each_rule(change, expected):
    assert problems(GOOD | change) == [expected]


def test_missing_required_and_all_problems_at_once():
    assert problems({"count": -1, "colour": 1}) == [
        "colour: unknown field in form f; allowed: count, rate, name, done, day, level, firms",
        "count (服务企业数): expected an integer ≥ 0 and ≤ 1000, got -1",
        "name (单位名称): required",
    ]
    assert problems([1, 2]) == ["expected a mapping of field → value for form f (表), got a list of 2"]


def test_load_payload_files(tmp_path):
    (tmp_path / "a.yaml").write_text("count: 3\nname: 甲\n", encoding="utf-8")
    assert load_payload(tmp_path / "a.yaml") == {"count": 3, "name": "甲"}
    (tmp_path / "a.json").write_text(json.dumps({"count": 3}), encoding="utf-8")
    assert load_payload(tmp_path / "a.json") == {"count": 3}
    cases = {
        "b.txt": ("count: 3", "expected a .yaml, .yml or .json file"),
        "c.yaml": (
            "x: !!python/object/apply:os.system [ls]\n",
            "c.yaml:1:4: the tag !!python/object/apply:os.system is not allowed",
        ),
        "d.yaml": ("a: &x [1]\nb: *x\n", "d.yaml:"),
        "e.yaml": ("a: 1\na: 2\n", "duplicate key 'a'"),
        "f.json": ('{"a": 1,\n "b": }', "f.json:2:7: invalid JSON"),
        "g.json": ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        "h.json": ('{"a": NaN}', "NaN is not a number a form accepts"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(PayloadInvalid) as info:
            load_payload(tmp_path / name)
        assert expected in str(info.value), (name, str(info.value))
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (5 * 1024 * 1024 + 1))
    with pytest.raises(PayloadInvalid, match="at most 5242880 bytes"):
        load_payload(big)
    (tmp_path / "latin.yaml").write_bytes(b"a: \xe9\n")
    with pytest.raises(PayloadInvalid, match="not UTF-8"):
        load_payload(tmp_path / "latin.yaml")


def test_measures():
    payload = validate_payload(SPEC, "f", GOOD | {"done": True})
    assert measure_value(SPEC, "f", payload, "count", None) == 12
    assert measure_value(SPEC, "f", payload, "firms", None) == 2
    assert measure_value(SPEC, "f", payload, "firms", "staff") == 12
    assert measure_value(SPEC, "f", payload, "done", None) == 1
    assert measure_value(SPEC, "f", payload, "rate", None) == 0


JILIN_SPEC = load_programme_file(JILIN)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), form=st.sampled_from([f.id for f in JILIN_SPEC.forms]))
def test_samples_of_every_jilin_form_are_valid(seed, form):
    payload = sample_payload(JILIN_SPEC, form, random.Random(seed), "changchun", year=2023)
    assert validate_payload(JILIN_SPEC, form, payload) == json.loads(json.dumps(payload, ensure_ascii=False))
    assert sample_payload(JILIN_SPEC, form, random.Random(seed), "changchun", year=2023) == payload


def test_one_table_of_field_types_is_what_the_schema_allows():
    import typing

    from models.fieldtypes import FIELD_TYPES
    from models.timeline.spec import FieldType

    assert set(typing.get_args(FieldType)) == set(FIELD_TYPES)
    assert {k.id for k in FIELD_TYPES.values() if k.numeric} == {"integer", "number"}
    assert all(k.excel or k.id == "table" for k in FIELD_TYPES.values())
