"""The year simulation without Prefect (the Prefect run is in tests/flows): deterministic
by seed, every email received by the loopback SMTP server and saved."""

from __future__ import annotations

import json

from models.simulation import LATE, NEVER, PUNCTUAL, assign_personas, plan_submissions
from models.timeline import WorkdayCalendar, load_programme_file, plan_year
from tests.conftest import JILIN


def simulate(cli, tmp_path, seed: int) -> dict:
    r = cli("simulate", "jilin-quality-2022-2024", "--year", "2023", "--seed", str(seed), "--no-prefect",
            "--workdir", tmp_path / f"run-{seed}", "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_same_seed_same_year_different_seed_different_year(cli, tmp_path):
    a, b, c = simulate(cli, tmp_path, 1), simulate(cli, tmp_path, 1), simulate(cli, tmp_path, 2)
    assert a["status"] == b["status"]
    assert a["status"] != c["status"]
    eml = list((tmp_path / "run-1" / "jilin-quality-2022-2024-2023" / "outbox").glob("*.eml"))
    assert len(eml) == a["summary"]["emails_sent"] == a["summary"]["emails_received_by_smtp"]
    assert a["summary"]["seconds"]["prefect"] == 0


def test_personas_behave_as_named():
    spec = load_programme_file(JILIN)
    cal = WorkdayCalendar()
    plan = plan_year(spec, 2023, cal)
    personas = assign_personas(spec, 5)
    assert set(personas.values()) == {PUNCTUAL, LATE, NEVER}
    subs = plan_submissions(plan, personas, cal, 5)
    due = {m.id: m.due for m in plan.milestones}
    by_persona = {p: [s for s in subs if s.persona == p] for p in (PUNCTUAL, LATE, NEVER)}
    assert by_persona[NEVER] == []
    assert all(s.at.date() <= due[s.milestone] for s in by_persona[PUNCTUAL])
    late_share = sum(s.at.date() > due[s.milestone] for s in by_persona[LATE]) / len(by_persona[LATE])
    assert late_share > 0.6
    assert all(cal.is_workday(s.at.date()) for s in subs)
