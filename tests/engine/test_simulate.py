"""The year simulation without Prefect (the Prefect run is in tests/flows): deterministic
by seed, every email received by the loopback SMTP server and saved."""

from __future__ import annotations

import pytest

import json

from models.simulation import LATE, NEVER, PUNCTUAL, assign_personas, plan_submissions
from models.timeline import WorkdayCalendar, load_programme_file, plan_year
from tests.conftest import JILIN

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters


def test_same_seed_same_year_different_seed_different_year(cli, tmp_path):
    """On a small calendar (three runs of Jilin's would take minutes)."""

    def run(seed: int, workdir: str) -> dict:
        args = ("simulate", "city-product-quality-2023-2025", "--year", "2024", "--no-prefect", "--json", "--seed", str(seed))
        r = cli(*args, "--workdir", tmp_path / workdir)
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)

    a, b, c = run(1, "a"), run(1, "b"), run(2, "c")
    assert a["status"] == b["status"] and a["rollup"] == b["rollup"]
    assert a["status"] != c["status"]


def test_the_simulated_jilin_year_sends_what_it_says_and_draws_two_experts_per_enterprise(simulated_jilin_2023):
    a, work = simulated_jilin_2023
    eml = list((work / "jilin-quality-2022-2024-2023" / "outbox").glob("*.eml"))
    assert len(eml) == a["summary"]["emails_sent"] == a["summary"]["emails_received_by_smtp"]
    assert a["summary"]["seconds"]["prefect"] == 0
    # the clinic enterprise by enterprise: a diagnosis report per enterprise of the plan from
    # each of the two experts drawn for it, one feedback per measure of the task sheets;
    # "enterprises served" counts enterprises, not reports
    items = [r for r in a["status"] if r["milestone"] in ("clinic-visit-reports", "clinic-measure-feedback")]
    visits = [r for r in items if r["milestone"] == "clinic-visit-reports"]
    by_enterprise: dict[str, set[str]] = {}
    for r in visits:
        by_enterprise.setdefault(r["item"], set()).add(r["participant"])
    assert len(by_enterprise) == 100 and all(len(x) == 2 for x in by_enterprise.values())
    experts = {r["participant"] for r in visits}
    assert experts <= {f"e{n:02d}" for n in range(1, 15)} and len(experts) == 14  # the library's, every one drawn
    run = work / "jilin-quality-2022-2024-2023"
    record = json.loads(next(run.glob("expert-draw-*.json")).read_text(encoding="utf-8"))
    assert {a["credit_code"]: {x["id"] for x in a["experts"]} for a in record["assignments"]} == by_enterprise
    assert len(items) > 300
    served = next(t for t in a["rollup"]["targets"] if t["target"] == "enterprises-served")
    submitted = {r["item"] for r in visits if r["state"] == "submitted"}
    assert served["value"] == len(submitted) and 90 <= len(submitted) <= 100


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


def test_the_simulated_mail_reads_as_the_year_it_simulates(cli, tmp_path):
    import email
    import email.policy
    import email.utils
    import sqlite3

    out = tmp_path / "eml"
    r = cli(
        "simulate",
        "city-product-quality-2023-2025",
        "--year",
        "2024",
        "--no-prefect",
        "--workdir",
        tmp_path,
        "--outbox",
        out,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    files = sorted(out.glob("*.eml"))
    assert files
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        when = email.utils.parsedate_to_datetime(msg["Date"])
        assert when.utcoffset().total_seconds() == 8 * 3600  # +0800
        assert when.year in (2024, 2025), (f.name, msg["Date"])  # chasers may reach into the next January
    db = next(tmp_path.rglob("ledger.db"))
    with sqlite3.connect(db) as c:
        years = {row[0][:4] for row in c.execute("SELECT sent_at FROM outbox WHERE state = 'sent'")}
        started = {row[0][:4] for row in c.execute("SELECT started_at FROM deliveries")}
    assert years <= {"2024", "2025"} and started <= {"2024", "2025"}


def test_a_late_submission_in_a_year_without_working_days_is_left_out_and_said(cli, tmp_path):
    # a programme running to 2026: late bureaus would submit in January 2027, which has no working-day data
    from tests.engine.conftest import HERE

    cal = tmp_path / "calendar"
    cal.mkdir()
    text = (
        (HERE / "engine-demo.yaml")
        .read_text(encoding="utf-8")
        .replace("years: {first: 2023, last: 2024}", "years: {first: 2026, last: 2026}")
    )
    (cal / "engine-demo.yaml").write_text(text, encoding="utf-8")
    outcomes = set()
    for seed in range(1, 12):
        r = cli(
            "simulate",
            "engine-demo",
            "--year",
            "2026",
            "--seed",
            str(seed),
            "--no-prefect",
            "--workdir",
            tmp_path / str(seed),
            "--calendar-dir",
            cal,
        )
        assert "Traceback" not in r.stdout + r.stderr
        assert r.exit_code == 0, r.stderr
        outcomes.add("left out of the simulation" in r.stderr)
    assert True in outcomes  # some seed made a bureau late past the year's end, and it was said
