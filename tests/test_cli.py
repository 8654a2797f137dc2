"""The yearwheel command line as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import JILIN_ID, ROOT, plan_json

YEARWHEEL = Path(sys.executable).with_name("yearwheel")

WORKDAYS_2027 = """\
version: 1
year: 2027
source: 测试用的2027年节假日安排（示例，不是国务院通知）
holidays:
  - {name: 元旦, first: 2027-01-01, last: 2027-01-03}
  - {name: 劳动节, first: 2027-05-01, last: 2027-05-05}
adjusted_workdays: [2027-04-25]
"""


def test_console_script_exits_2_naming_the_missing_year_and_file(jilin_to_2027):
    out = subprocess.run(
        [YEARWHEEL, "plan", JILIN_ID, "--year", "2027", "--json", "--calendar-dir", str(jilin_to_2027.parent)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert out.stdout == ""  # nothing half-planned on stdout
    assert "no working-day data for 2027" in out.stderr and "cn-2027.yaml" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_year_outside_the_programme_is_said_first():
    # no working-day file would help: the decisive fact comes first
    out = subprocess.run([YEARWHEEL, "plan", JILIN_ID, "--year", "2027"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "jilin-quality-2022-2024 runs 2022–2024; 2027 is not one of its years" in out.stderr
    assert "working-day" not in out.stderr


@pytest.fixture
def jilin_to_2027(jilin_text, calendar_copy):
    """The Jilin calendar extended to 2027, in its own calendar directory."""
    return calendar_copy(jilin_text.replace("years: {first: 2022, last: 2024}", "years: {first: 2022, last: 2027}"))


def test_a_programme_year_without_working_day_data_exits_2(cli, jilin_to_2027):
    result = cli("plan", JILIN_ID, "--year", "2027", "--calendar-dir", jilin_to_2027.parent)
    assert result.exit_code == 2
    assert str(jilin_to_2027.parent / "workdays" / "cn-2027.yaml") in result.stderr
    assert "outside" not in result.stderr


def test_a_year_file_makes_2027_plannable(cli, jilin_to_2027):
    wd = jilin_to_2027.parent / "workdays"
    wd.mkdir()
    (wd / "cn-2027.yaml").write_text(WORKDAYS_2027, encoding="utf-8")
    assert cli("validate", jilin_to_2027.parent).exit_code == 0
    result = cli("plan", JILIN_ID, "--year", "2027", "--json", "--calendar-dir", jilin_to_2027.parent)
    assert result.exit_code == 0, result.stderr
    dues = {m["id"]: (m["nominal_due"], m["due"]) for m in json.loads(result.stdout)["milestones"]}
    # Friday 2027-04-30 is a working day in the file; Saturday 2027-07-31 moves to Monday 08-02.
    assert dues["clinic-plan-issued"] == ("2027-04-30", "2027-04-30")
    assert dues["clinic-visits"] == ("2027-07-31", "2027-08-02")
    # Sunday 2027-04-25 is an adjusted working day in the file: counted by relative rules.
    recs = json.loads(result.stdout)["milestones"]
    assert any(r.startswith("2027-04-25") for m in recs for r in m["reminders"])


def test_unknown_programme_and_year_outside_the_programme(cli):
    result = cli("plan", "no-such-programme", "--year", "2023")
    assert result.exit_code == 1 and "no calendar for programme 'no-such-programme'" in result.stderr
    assert JILIN_ID in result.stderr  # lists what is known
    result = cli("plan", JILIN_ID, "--year", "2025")
    assert result.exit_code == 1 and "2025 is not one of its years" in result.stderr


def test_plan_on_an_invalid_calendar_prints_the_problems(cli, jilin_text, calendar_copy):
    path = calendar_copy(jilin_text.replace("    value: 5\n", "    value: five\n"))
    result = cli("plan", JILIN_ID, "--year", "2023", "--calendar-dir", path.parent)
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{path}:" in result.stderr and "expected an integer" in result.stderr


def test_plan_table_shows_nominal_and_effective_dates(cli):
    result = cli("plan", JILIN_ID, "--year", "2023")
    assert result.exit_code == 0
    out = result.stdout
    assert "05-04 周四 ← 04-30 (next)" in out  # clinic-plan-issued moved past the Labour Day break
    assert "09-28 周四 ← 09-30 (prev)" in out  # policy-website-update kept inside Quality Month
    assert "04-23 周日(班)" in out  # a 调休 working Sunday
    assert "clinic-feedback-forms" in out and "chinese-calendar" in out


def test_plan_2022_lists_what_is_not_held(cli):
    result = cli("plan", JILIN_ID, "--year", "2022")
    assert "not held in 2022: clinic-industries-announced" in result.stdout
    assert "clinic-industries-announced" not in {m["id"] for m in plan_json(cli, 2022)["milestones"]}


def test_plan_is_deterministic(cli):
    assert plan_json(cli, 2024) == plan_json(cli, 2024)


def test_the_plan_table_says_what_is_not_held_and_dates_outside_the_year_in_full(cli, tmp_path):
    from tests.engine.test_promises import CALENDAR, PROMISE

    cal = tmp_path / "calendar"
    cal.mkdir()
    (cal / f"{PROMISE}.yaml").write_text(CALENDAR, encoding="utf-8")
    r = cli("plan", PROMISE, "--year", "2025", "--calendar-dir", cal)
    assert r.exit_code == 0, r.stderr
    assert "2024-12-18" in r.stdout and "2024-12-04" in r.stdout  # December reminders and opening of a January deadline
    assert "festival-return: before_due 0 and 1 fall on the same working day 2025-01-27: one reminder is sent" in r.stdout
    r = cli("plan", JILIN_ID, "--year", "2022")
    assert "not held in 2022: policy-website-update — held only in 2023, 2024" in r.stdout
    assert "not held in 2022: clinic-industries-announced — due 2022-03-31 is before the programme came into force" in r.stdout


def test_the_lazy_command_table_matches_the_commands():
    """`yearwheel --help` prints from COMMANDS without importing the commands: the table
    must name every registered command with the first line of its own help."""
    import inspect

    from yearwheel.cli import COMMANDS, build_app

    app = build_app()
    registered = {c.name or c.callback.__name__: c for c in app.registered_commands}
    groups = {g.name: g for g in app.registered_groups}
    assert set(COMMANDS) == set(registered) | set(groups)
    for name, (module, summary) in COMMANDS.items():
        if name in registered:
            cmd = registered[name]
            assert cmd.callback.__module__ == module, name
            first = inspect.getdoc(cmd.callback).split("\n\n")[0].replace("\n", " ")
            assert summary.split(":")[0] in first or first.startswith(summary[:30]), (name, summary, first)
        else:
            assert groups[name].typer_instance.info.help.startswith(summary[:30]), name


@pytest.mark.slow
def test_help_and_plan_import_only_what_they_need(tmp_path):
    probe = (
        "import sys, contextlib, io\n"
        "from yearwheel.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(sys.argv[1:])\n"
        "    except SystemExit: pass\n"
        "print(','.join(sorted(m for m in ('typer', 'sqlalchemy', 'prefect', 'apprise', 'fastapi', 'openpyxl') if m in sys.modules)))\n"
    )

    def loaded(*args: str) -> set[str]:
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert out.returncode == 0, out.stderr
        return set(filter(None, out.stdout.strip().split(",")))

    assert loaded("--help") == set()
    assert loaded("plan", JILIN_ID, "--year", "2023") == {"typer"}
    assert loaded("validate") == {"typer"}
    assert "prefect" not in loaded("status", JILIN_ID, "--year", "2023")


def test_an_unknown_command_is_named_with_the_nearest():
    out = subprocess.run([str(YEARWHEEL), "advnace"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "did you mean advance" in out.stderr


def test_prefect_yaml_is_generated_from_the_calendars_and_not_stale(cli, tmp_path, jilin_text, calendar_copy):
    """One advance deployment per calendar: a new calendar makes the committed file stale."""
    import yaml

    from yearwheel.deployments import TARGET, render

    r = cli("deployments", "--check")
    assert r.exit_code == 0, r.stderr
    doc = yaml.safe_load(TARGET.read_text(encoding="utf-8"))
    advances = [d for d in doc["deployments"] if d["name"].startswith("advance-")]
    assert {d["name"] for d in advances} == {f"advance-{p.stem}" for p in (ROOT / "calendar").glob("*.yaml")}
    assert all(d["concurrency_limit"] == 1 and d["parameters"]["programme"] == d["name"][8:] for d in advances)
    # a folder with one more (broken) calendar: its deployment is there, tagged without years
    folder = calendar_copy(jilin_text).parent
    (folder / "broken-2025.yaml").write_text("version: 1\nprogramme: [\n", encoding="utf-8")
    other = yaml.safe_load(render(folder))
    names = {d["name"]: d for d in other["deployments"]}
    assert names["advance-broken-2025"]["tags"] == ["yearwheel", "engine", "programme:broken-2025"]
    assert "years:2022-2024" in names["advance-jilin-quality-2022-2024"]["tags"]
    assert {"rollup-nightly", "bulletin-monthly", "simulate-manual"} <= set(names)
