"""One bad file never stops the others: a broken calendar beside a good one, and a broken
working-day file for a year a programme does not touch."""

from __future__ import annotations

import json
import shutil

from yearwheel import usecases as R
from tests.engine.conftest import HERE, PROGRAMME, at

BROKEN = "broken-demo"
BROKEN_2027 = """version: 1
year: 2027
source: 国务院办公厅关于2027年部分节假日安排的通知（草稿）
holidays:
  - {name: 元旦, first: 2027-01-01, last: 2027-01-03}
adjusted_workdays:
  - 2027-01-04
"""  # Monday 01-04 is a weekday, not a weekend day that becomes a working day: invalid


def _broken_copy(world) -> tuple[str, int, int]:
    text = (HERE / "engine-demo.yaml").read_text(encoding="utf-8").replace("id: engine-demo", f"id: {BROKEN}", 1)
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if "before_due:" in line)
    lines[n] = lines[n].replace("before_due: [5, 1, 0]", "before_due: [5, 1, zero]")
    (world.calendar_dir / f"{BROKEN}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"{BROKEN}.yaml", n + 1, lines[n].index("zero") + 1


def test_a_broken_calendar_stops_only_itself(world, cli, monkeypatch):
    name, line, column = _broken_copy(world)
    workdays = world.calendar_dir / "workdays"
    workdays.mkdir()
    (workdays / "cn-2027.yaml").write_text(BROKEN_2027, encoding="utf-8")  # next-but-one year, drafted early
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    r = cli(
        "advance",
        "--at",
        "2023-12-01T09:00",
        "--no-prefect",
        "--json",
        "--calendar-dir",
        world.calendar_dir,
        "--contacts",
        world.contacts,
    )
    assert r.exit_code == 1  # something must be fixed …
    out = json.loads(r.stdout)
    assert list(out["failures"]) == [BROKEN]
    assert f"{name}:{line}:{column}:" in out["failures"][BROKEN]
    assert out["opened"] == 3 and out["dispatch"]["sent"] == 3  # … and every bureau of the good programme was reminded
    assert len(world.smtp.messages) == 3
    r = cli(
        "advance", "--at", "2023-12-01T09:00", "--no-prefect", "--calendar-dir", world.calendar_dir, "--contacts", world.contacts
    )
    assert r.exit_code == 1
    assert f"error: {BROKEN} was not advanced (the other programmes were): " in r.stderr and f"{name}:{line}:{column}" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_a_broken_working_day_year_stops_only_the_programmes_that_need_it(world):
    workdays = world.calendar_dir / "workdays"
    workdays.mkdir()
    (workdays / "cn-2027.yaml").write_text(BROKEN_2027, encoding="utf-8")
    later = (
        (HERE / "engine-demo.yaml")
        .read_text(encoding="utf-8")
        .replace("id: engine-demo", "id: later-demo", 1)
        .replace("years: {first: 2023, last: 2024}", "years: {first: 2026, last: 2027}")
    )
    (world.calendar_dir / "later-demo.yaml").write_text(later, encoding="utf-8")
    rt = R.open_runtime(calendar_dir=world.calendar_dir, contacts=world.contacts, database=world.database_url)
    try:
        r = R.advance(rt, at("2023-12-01T09:00"))
        assert r.reconcile.failures == {}  # 2023 does not need 2027
        assert r.dispatch.sent == 3
        r = R.advance(rt, at("2026-12-01T09:00"))
        # later-demo's 2027 cannot be compiled yet: said, not fatal before January; engine-demo is untouched
        assert "working-day file for 2027 is invalid" in r.reconcile.waiting["later-demo/2027"]
        assert "cn-2027.yaml" in r.reconcile.waiting["later-demo/2027"]
        r = R.advance(rt, at("2027-01-04T09:00"))
        assert list(r.reconcile.failures) == ["later-demo"]
        assert "weekday" in r.reconcile.failures["later-demo"]
    finally:
        rt.close()


def test_naming_a_broken_programme_says_where(world, cli, monkeypatch):
    name, line, column = _broken_copy(world)
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    r = cli("advance", "--at", "2023-12-01T09:00", "--no-prefect", "--programme", BROKEN, "--calendar-dir", world.calendar_dir)
    assert r.exit_code == 1 and f"{name}:{line}:{column}" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_good_programme_alone_still_exits_zero(world, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    shutil.rmtree(world.calendar_dir / "workdays", ignore_errors=True)
    r = cli(
        "advance",
        "--at",
        "2023-12-01T09:00",
        "--no-prefect",
        "--calendar-dir",
        world.calendar_dir,
        "--contacts",
        world.contacts,
        "--programme",
        PROGRAMME,
    )
    assert r.exit_code == 0, r.stderr
