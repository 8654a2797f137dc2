"""The double-random expert draw: reproducible from the public seed, conflict-free,
balanced — pure cases by hand, then from a simulated Jilin year through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.experts import DrawConfig, DrawError, Enterprise, Expert, Library, conflict, draw

ROOT = Path(__file__).resolve().parents[2]


def lib(experts, k=2):
    return Library(
        programme="p", draws={"visits": DrawConfig(enterprises_from="recs", experts_per_enterprise=k)}, experts=experts
    )


ENTS = [
    Enterprise(f"企业{i}", f"C{i:03d}", "汽车" if i % 2 else "食品", city)
    for i, city in enumerate(["a", "a", "b", "b", "c", "c"])
]


def test_same_seed_same_result_other_seed_other_result():
    experts = [Expert(id=f"e{i}", name=f"专家{i}", city=c) for i, c in enumerate(["a", "b", "c", None, None, "a"])]
    one = draw(lib(experts), "sha", "p", 2023, "visits", "seed-1", ENTS)
    again = draw(lib(experts), "sha", "p", 2023, "visits", "seed-1", list(reversed(ENTS)))  # input order does not matter
    assert one.as_json() == again.as_json()
    others = {
        json.dumps(draw(lib(experts), "sha", "p", 2023, "visits", f"seed-{n}", ENTS).as_json()["assignments"])
        for n in range(2, 8)
    }
    assert len(others | {json.dumps(one.as_json()["assignments"])}) >= 3  # the seed decides


def test_conflicts_are_never_drawn_and_load_is_balanced():
    experts = [
        Expert(id=f"e{i}", name=f"专家{i}", city=c, ties=t)
        for i, (c, t) in enumerate([("a", []), ("b", []), ("c", []), (None, ["企业4"]), (None, ["C005"]), ("a", [])])
    ]
    for seed in map(str, range(30)):
        rec = draw(lib(experts), "sha", "p", 2023, "visits", seed, ENTS)
        by_name = {e.name: e for e in ENTS}
        for a in rec.assignments:
            ent = by_name[a.enterprise]
            assert len(a.experts) == 2
            for x in a.experts:
                assert conflict(next(e for e in experts if e.id == x["id"]), ent) is None
        # 6 enterprises × 2 = 12 visits over 6 experts: as even as the conflicts allow
        assert max(rec.load.values()) - min(rec.load.values()) <= 1, (seed, rec.load)


def test_avoided_counts_and_skills():
    experts = [
        Expert(id="e1", name="甲", city="a", fields=["汽车"]),
        Expert(id="e2", name="乙", fields=["汽车"]),
        Expert(id="e3", name="丙", fields=["食品"]),
        Expert(id="e4", name="丁", fields=["汽车"]),
    ]
    rec = draw(lib(experts), "sha", "p", 2023, "visits", "s", [Enterprise("企业x", "X", "汽车", "a")])
    (a,) = rec.assignments
    assert a.avoided == 1 and {x["id"] for x in a.experts} == {"e2", "e4"}  # the two skilled experts without a conflict


def test_impossible_and_empty_draws_say_why():
    experts = [Expert(id="e1", name="甲", city="a"), Expert(id="e2", name="乙", city="a")]
    with pytest.raises(DrawError, match=r"企业0 \(a\): only 0 expert\(s\) without a conflict, 2 needed"):
        draw(lib(experts), "sha", "p", 2023, "visits", "s", ENTS[:1])
    with pytest.raises(DrawError, match="no enterprises to visit"):
        draw(lib(experts), "sha", "p", 2023, "visits", "s", [])
    with pytest.raises(DrawError, match="the public seed is empty"):
        draw(lib(experts), "sha", "p", 2023, "visits", "  ", ENTS)
    with pytest.raises(DrawError, match="no draw for milestone 'other'"):
        draw(lib(experts), "sha", "p", 2023, "other", "s", ENTS)


@pytest.mark.slow
def test_draw_from_a_simulated_year_through_the_cli(cli, tmp_path, monkeypatch, simulated_jilin_2023):
    _, work = simulated_jilin_2023
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", f"sqlite:///{work}/jilin-quality-2022-2024-2023/ledger.db")
    library = tmp_path / "experts.yaml"
    shutil.copy(ROOT / "calendar" / "experts" / "jilin-quality-2022-2024.yaml", library)
    args = (
        "experts",
        "draw",
        "jilin-quality-2022-2024",
        "--year",
        "2023",
        "--milestone",
        "clinic-visits",
        "--no-prefect",
        "--library",
        library,
    )
    first, second, other = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    for out, seed in ((first, "2023-06-01 3D 123"), (second, "2023-06-01 3D 123"), (other, "2023-06-01 3D 124")):
        r = cli(*args, "--seed", seed, "-o", out)
        assert r.exit_code == 0, r.stderr
    a, b, c = (json.loads(p.read_text(encoding="utf-8")) for p in (first, second, other))
    assert a == b and a["assignments"] != c["assignments"]  # reproducible from the public seed
    assert first.with_suffix(".md").read_text(encoding="utf-8").startswith("# 专家抽取结果公示（2023年 clinic-visits）")
    experts = {e["id"]: e for e in __import__("yaml").safe_load(library.read_text(encoding="utf-8"))["experts"]}
    assert len(a["assignments"]) >= 40
    for row in a["assignments"]:
        assert len(row["experts"]) == 2
        assert all(experts[x["id"]].get("city") != row["city"] for x in row["experts"])  # never their own city's enterprise
    # balanced as far as skills allow: no visit could move from a busier expert to one two
    # visits idler who is free of conflicts and, when enough know the industry, knows it
    load = a["load"]
    for row in a["assignments"]:
        free = [x for x in experts.values() if x.get("city") != row["city"]]
        skilled = [x for x in free if row["industry"] in x.get("fields", [])]
        pool = {x["id"] for x in (skilled if len(skilled) >= 2 else free)}
        chosen = {x["id"] for x in row["experts"]}
        assert chosen <= pool
        for c in chosen:
            assert all(load[x] > load[c] - 2 for x in pool - chosen), (row, load)
    assert sum(load.values()) == 2 * len(a["assignments"])

    # a declared tie: that expert is never drawn for that enterprise, whatever the seed
    target = a["assignments"][0]
    tied = target["experts"][0]["id"]
    text = library.read_text(encoding="utf-8").replace(f"{{id: {tied}, ", f"{{id: {tied}, ties: [{target['enterprise']}], ", 1)
    library.write_text(text, encoding="utf-8")
    r = cli(*args, "--seed", "2023-06-01 3D 123", "-o", tmp_path / "d.json")
    assert r.exit_code == 0, r.stderr
    d = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    row = next(x for x in d["assignments"] if x["enterprise"] == target["enterprise"] and x["city"] == target["city"])
    assert tied not in {x["id"] for x in row["experts"]} and d["library_sha256"] != a["library_sha256"]

    r = cli(*args, "--seed", "", "-o", tmp_path / "e.json")
    assert r.exit_code == 1 and "the public seed is empty" in r.stderr
