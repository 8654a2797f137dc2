"""Bad input, fuzzed: calendar YAML and submission payloads built by hypothesis — random
structures, huge strings, wrong types, YAML tricks (alias bombs, ``!!python`` tags,
duplicate keys, tabs, non-UTF-8 bytes) and mutations of a valid file.

Every case must end in a clear, located error (or a valid result) — never another
exception (a traceback for the user), never a hang (a generous guard around each case,
apart from the property: hypothesis runs without a deadline), and through the
CLI: exit code 0 or 1, no traceback, nothing written to the ledger."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.forms import PayloadInvalid, load_payload, validate_payload
from models.timeline.loader import CalendarInvalid, load_programme_file
from tests.conftest import hang_guard

DEMO = Path(__file__).resolve().parents[1] / "engine" / "engine-demo.yaml"
BASE = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
SPEC = load_programme_file(DEMO)
MANY = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
SOME = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)

# --------------------------------------------------------------------------- generators

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.dates().map(str),
    st.sampled_from(["", "~", "null", "yes", "no", "0x1F", "1e400", ".nan", "12:30", "2023-02-30"]),
)
# huge strings, 10 kB to ~1.5 MB: drawn once per case (each costs real parsing time)
huge = st.builds(
    lambda piece, n: piece * n,
    st.text(min_size=1, max_size=30, alphabet="长春市AZaz09 \n\t:-#{}[]&*!|>'\""),
    st.integers(1_000, 50_000),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=6)),
    max_leaves=30,
)

TRICKS = [
    # an alias bomb ("billion laughs")
    "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n"
    + "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
    "version: 1\nprogramme: !!python/object/apply:os.system ['echo pwned > /tmp/yearwheel-pwned']\n",
    "version: !!python/name:os.system 1\n",
    "!!binary aGVsbG8=\n",
    "version: 1\nversion: 2\n",
    "version: 1\n\tprogramme: {}\n",
    "version: 1\nprogramme: {id: x, id: y}\n",
    "[" * 10_000 + "]" * 10_000,
    "{a: " * 500 + "1" + "}" * 500,
    "---\nversion: 1\n---\nversion: 2\n",
    "version: 1\nprogramme: &p {id: p}\nparticipants: [*p, *p]\n",
    "<<: {version: 1}\n",
    "%YAML 9.9\n---\nversion: 1\n",
    "version: 1\nprogramme: '\\ud800'\n",
]


def mutate(data: st.DataObject) -> dict:
    """A valid calendar with one subtree replaced, dropped or added."""
    doc = copy.deepcopy(BASE)
    node, path = doc, []
    for _ in range(data.draw(st.integers(0, 5))):
        if isinstance(node, dict) and node:
            k = data.draw(st.sampled_from(sorted(node, key=str)))
        elif isinstance(node, list) and node:
            k = data.draw(st.integers(0, len(node) - 1))
        else:
            break
        path.append((node, k))
        node = node[k]
    if not path:
        doc[data.draw(st.text(max_size=10))] = data.draw(values)
        return doc
    parent, k = path[-1]
    action = data.draw(st.sampled_from(["replace", "drop", "add", "replace", "drop", "add", "huge"]))
    if action == "huge":
        parent[k] = data.draw(huge)
        return doc
    if action == "drop" and isinstance(parent, dict):
        del parent[k]
    elif action == "add" and isinstance(parent[k], dict):
        parent[k][data.draw(st.text(max_size=10))] = data.draw(values)
    else:
        parent[k] = data.draw(values)
    return doc


def dump(doc) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, RecursionError):
        return json.dumps(doc, ensure_ascii=False, default=str)


def check_calendar(path: Path) -> None:
    try:
        load_programme_file(path)
    except CalendarInvalid as exc:
        assert exc.problems
        for p in exc.problems:
            text = str(p)
            assert text.startswith(str(path)), text  # located: the file (and line) first
            assert "Traceback" not in text


# --------------------------------------------------------------------------- calendars


@MANY
@given(st.data())
def test_fuzzed_calendars_fail_clearly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("cal") / "fuzz.yaml"
    kind = data.draw(st.sampled_from(["mutated", "random", "trick", "bytes"]))
    if kind == "mutated":
        path.write_text(dump(mutate(data)), encoding="utf-8")
    elif kind == "random":
        path.write_text(dump(data.draw(values)), encoding="utf-8")
    elif kind == "trick":
        path.write_text(data.draw(st.sampled_from(TRICKS)), encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(data.draw(st.binary(max_size=2000)))
    with hang_guard(30, "reading one fuzzed calendar"):
        check_calendar(path)
    assert not Path("/tmp/yearwheel-pwned").exists()


def test_the_alias_bomb_is_refused_quickly(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(TRICKS[0], encoding="utf-8")
    with pytest.raises(CalendarInvalid) as info, hang_guard(30, "the alias bomb"):
        load_programme_file(path)
    assert any("alias" in str(p).lower() or "anchor" in str(p).lower() for p in info.value.problems), info.value.problems


@SOME
@given(st.data())
def test_fuzzed_calendars_through_the_cli(cli, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("cli") / "fuzz.yaml"
    path.write_text(
        dump(mutate(data)) if data.draw(st.booleans()) else data.draw(st.sampled_from(TRICKS)),
        encoding="utf-8",
        errors="surrogatepass",
    )
    with hang_guard(30, "validate on one fuzzed calendar"):
        r = cli("validate", path)
    assert r.exit_code in (0, 1), (r.exit_code, r.stderr[-2000:])
    assert "Traceback" not in r.stdout + r.stderr
    if r.exit_code == 1:
        assert str(path) in r.stdout + r.stderr


# --------------------------------------------------------------------------- payloads

GOOD = {"enterprises_served": 12, "summary": "全年走访企业12家"}


def payload_docs(data: st.DataObject):
    kind = data.draw(st.sampled_from(["mutated", "random", "wrong-types"]))
    if kind == "random":
        return data.draw(values)
    doc = dict(GOOD)
    if kind == "mutated":
        doc[data.draw(st.sampled_from([*GOOD, "inspected", "passed", "extra"]))] = data.draw(values)
    else:
        doc = {k: data.draw(scalars) for k in doc}
    return doc


@MANY
@given(st.data())
def test_fuzzed_payloads_fail_clearly(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("payload")
    fmt = data.draw(st.sampled_from(["yaml", "json", "trick", "bytes"]))
    if fmt == "trick":
        path = folder / "p.yaml"
        path.write_text(data.draw(st.sampled_from(TRICKS)), encoding="utf-8", errors="surrogatepass")
    elif fmt == "bytes":
        path = folder / data.draw(st.sampled_from(["p.yaml", "p.json"]))
        path.write_bytes(data.draw(st.binary(max_size=2000)))
    else:
        path = folder / f"p.{fmt}"
        doc = payload_docs(data)
        path.write_text(dump(doc) if fmt == "yaml" else json.dumps(doc, ensure_ascii=False, default=str), encoding="utf-8")
    try:
        with hang_guard(30, "reading one fuzzed payload"):
            payload = load_payload(path)
            clean = validate_payload(SPEC, "results", payload)
    except PayloadInvalid as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return
    # accepted: then it is exactly the form's shape with finite numbers
    assert set(clean) <= {"enterprises_served", "summary", "inspected", "passed"}
    assert isinstance(clean["enterprises_served"], int) and clean["enterprises_served"] >= 0
    assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in clean.values())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fuzzed_payloads_through_the_cli_write_nothing(world, cli, tmp_path):
    """A bad payload through `yearwheel submit`: exit 1, located problems, the ledger untouched."""
    from sqlalchemy import func, select

    from models.tables import StatusChange, Submission
    from tests.engine.conftest import ledger

    world.advance("2023-12-01T09:00")
    with ledger(world) as s:
        before = (
            s.scalar(select(func.count()).select_from(Submission)),
            s.scalar(select(func.count()).select_from(StatusChange)),
        )

    @SOME
    @given(st.data())
    def run(data):
        path = tmp_path / data.draw(st.sampled_from(["p.yaml", "p.json"]))
        doc = payload_docs(data)
        if isinstance(doc, dict):  # whatever else it holds, this field makes it invalid
            doc = {**doc, "enterprises_served": data.draw(st.sampled_from([-1, "十二", 1.5, None, [], {}, "12", True]))}
        text = dump(doc) if path.suffix == ".yaml" else json.dumps(doc, ensure_ascii=False, default=str)
        path.write_text(data.draw(st.sampled_from([text, *TRICKS[:3]])), encoding="utf-8")
        with hang_guard(60, "submit of one fuzzed payload"):
            r = cli(
                "submit",
                "engine-demo",
                "--year",
                "2023",
                "--milestone",
                "results-submitted",
                "--participant",
                "late-city",
                "--file",
                path,
                "--at",
                "2023-12-10T10:00",
                "--calendar-dir",
                world.calendar_dir,
                "--contacts",
                world.contacts,
            )
        assert r.exit_code == 1, (r.exit_code, r.stdout[-500:], r.stderr[-2000:])
        assert "Traceback" not in r.stdout + r.stderr and str(path) in r.stderr

    run()
    with ledger(world) as s:
        after = (s.scalar(select(func.count()).select_from(Submission)), s.scalar(select(func.count()).select_from(StatusChange)))
    assert after == before
