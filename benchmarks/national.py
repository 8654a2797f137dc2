"""National scale: the Jilin calendar with 2,844 county-level bureaus (≈ 2,855 tasks per
city-level milestone), on SQLite and PostgreSQL.

1. compile the year into the ledger, beside a raw SQLAlchemy Core bulk insert of the
   same rows (goal: within 3× of it);
2. `advance` (the reconcile: open, mark overdue, queue) with nothing due, and with
   ~10,000 reminders due (goal: under 2 s each; statements counted — set-based means a
   count that does not grow with the number of tasks).

    python benchmarks/national.py [--counties N] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from common import NATIONAL, Statements, Timer, databases, machine, national_calendar, postgres_available, table

YEAR = 2023


def contacts_file(directory: Path, spec) -> Path:
    lines = [
        "version: 1",
        "email:",
        "  host: 127.0.0.1",
        "  port: 2525",
        '  sender: "Yearwheel <y@bench.invalid>"',
        "  security: none",
        "participants:",
    ]
    for p in spec.participants:
        lines += [f"  {p.id}:", f"    email: [{p.id}@bench.invalid]", f"    head: {{email: [head.{p.id}@bench.invalid]}}"]
    path = directory / "contacts.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def at(text: str) -> dt.datetime:
    from models.timeline import TZ

    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


def plan_rows(prog, cal, py_id: int, now: dt.datetime) -> tuple[list[dict], list[tuple[str, list[str]]]]:
    from models.timeline.plan import plan_year

    plan = plan_year(prog.spec, YEAR, cal)
    default = prog.spec.programme.defaults.reminder_policy
    mis = [
        {
            "programme_year_id": py_id,
            "milestone": pm.id,
            "title": pm.title,
            "kind": pm.kind,
            "form": pm.form,
            "reminder_policy": prog.spec.milestone(pm.id).reminder_policy or default,
            "opens": pm.opens,
            "nominal_due": pm.nominal_due,
            "due": pm.due,
            "rest_day_rule": pm.rest_day_rule,
        }
        for pm in plan.milestones
    ]
    # a fan-out milestone's tasks come from submitted rows, not from the calendar: none at compile time
    owed = {pm.id: [] if prog.spec.milestone(pm.id).for_each is not None else list(pm.assignees) for pm in plan.milestones}
    return mis, [(pm.id, owed[pm.id], pm.opens, pm.due) for pm in plan.milestones]


def raw_insert(engine, prog, cal, now: dt.datetime) -> int:
    """The floor: the same rows with Core executemany, no logic, no checks."""
    from sqlalchemy import insert, select

    from models.tables import MilestoneInstance, ProgrammeYear, Task

    with engine.begin() as c:
        py_id = c.execute(
            insert(ProgrammeYear)
            .values(programme=prog.id, year=YEAR, title="raw", calendar_digest="raw", compiled_at=now)
            .returning(ProgrammeYear.id)
        ).scalar_one()
        mis, assignees = plan_rows(prog, cal, py_id, now)
        c.execute(insert(MilestoneInstance), mis)
        ids = dict(
            c.execute(
                select(MilestoneInstance.milestone, MilestoneInstance.id).where(MilestoneInstance.programme_year_id == py_id)
            ).all()
        )
        tasks = [
            {
                "programme_year_id": py_id,
                "milestone_instance_id": ids[m],
                "participant": p,
                "state": "waiting",
                "opens": opens,
                "due": due,
                "original_due": due,
                "state_changed_at": now,
            }
            for m, who, opens, due in assignees
            for p in who
        ]
        c.execute(insert(Task), tasks)
    return len(tasks)


def raw_outbox_insert(engine, after_id: int, busy_seconds: float) -> list:
    """The floor of a busy run: the outbox rows it queued, inserted again with Core
    executemany (keys suffixed; rolled back), timed alone."""
    from sqlalchemy import select

    from models.tables import OutboxMessage

    cols = [c for c in OutboxMessage.__table__.columns if c.name != "id"]
    with engine.connect() as c:
        rows = [dict(m) for m in c.execute(select(*cols).where(OutboxMessage.id > after_id)).mappings()]
    for r in rows:
        r["key"] += "/raw"
    with engine.connect() as c:
        tx = c.begin()
        with Timer() as t:
            c.execute(OutboxMessage.__table__.insert(), rows)
        tx.rollback()
    return [f"{len(rows):,}", f"{t.seconds:.2f}", f"{busy_seconds:.2f}", f"{busy_seconds / t.seconds:.1f}×"]


def wipe(engine) -> None:
    from sqlalchemy import delete

    from models.tables import MilestoneInstance, OutboxMessage, ProgrammeYear, StatusChange, Task

    with engine.begin() as c:
        for t in (OutboxMessage, StatusChange, Task, MilestoneInstance, ProgrammeYear):
            c.execute(delete(t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=2844)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--warm-at", default="2023-03-20T09:00", help="the first advance after compiling")
    ap.add_argument("--busy-at", default="2023-04-10T09:00", help="a later instant with ≥ 10,000 reminders due")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b != "postgresql" or postgres_available()]

    from yearwheel import usecases as R
    from models.reconcile import AdvanceReport
    from models.reconcile import reconcile as reconcile_programme
    from models.ledger import LoadedProgramme, compile_year
    from models.timeline import WorkdayCalendar
    from sqlalchemy import func, select, update

    from models.tables import OutboxMessage, Task

    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="yearwheel-national-"))
    cal_file = national_calendar(tmp / "calendar", args.counties)
    prog = LoadedProgramme.read(cal_file)
    cal = WorkdayCalendar.from_directory(tmp / "calendar" / "workdays")
    contacts = contacts_file(tmp, prog.spec)
    now = at("2023-01-03T09:00")
    compile_rows, advance_rows, raw_busy = [], [], []
    with databases(backends) as urls:
        for backend, url in urls.items():
            rt = R.open_runtime(calendar_dir=tmp / "calendar", programme=NATIONAL, contacts=contacts, database=url)
            try:
                with Timer() as raw_t:
                    n_raw = raw_insert(rt.engine, prog, cal, now)
                wipe(rt.engine)
                with Statements(rt.engine) as st, Timer() as ours_t:
                    with rt.sessions.begin() as s:
                        compile_year(s, prog, YEAR, cal, at=now)
                with rt.sessions() as s:
                    n_tasks = s.scalar(select(func.count()).select_from(Task))
                assert n_tasks == n_raw, (n_tasks, n_raw)
                compile_rows.append(
                    [
                        backend,
                        f"{n_tasks:,}",
                        f"{raw_t.seconds:.2f}",
                        f"{ours_t.seconds:.2f}",
                        f"{ours_t.seconds / raw_t.seconds:.2f}×",
                        st.n,
                    ]
                )

                def reconcile(instant: dt.datetime, rt: R.Runtime = rt) -> tuple[AdvanceReport, float, int]:
                    with Statements(rt.engine) as st, Timer() as t:
                        with rt.sessions.begin() as s:
                            report = reconcile_programme(s, rt.programmes[0], rt.cal, rt.messenger, instant)
                    return report, t.seconds, st.n

                warm, w_s, w_n = reconcile(at(args.warm_at))
                advance_rows.append(
                    [backend, f"first run ({args.warm_at}, opened {warm.opened:,})", sum(warm.queued.values()), f"{w_s:.2f}", w_n]
                )
                quiet, q_s, q_n = reconcile(at(args.warm_at) + dt.timedelta(hours=1))
                advance_rows.append([backend, "nothing due (an hour later)", sum(quiet.queued.values()), f"{q_s:.2f}", q_n])
                busy_at = at(args.busy_at)
                with rt.sessions() as s:
                    before_busy = s.scalar(select(func.max(OutboxMessage.id))) or 0
                busy, b_s, b_n = reconcile(busy_at)
                raw_busy.append([backend, *raw_outbox_insert(rt.engine, before_busy, b_s)])
                busy_row: list = [
                    backend,
                    f"{sum(busy.queued.values()):,} due ({args.busy_at}, opened {busy.opened:,})",
                    sum(busy.queued.values()),
                    f"{b_s:.2f}",
                    b_n,
                ]
                advance_rows.append(busy_row)
                again, a_s, a_n = reconcile(busy_at)
                advance_rows.append([backend, "nothing due (same instant again)", sum(again.queued.values()), f"{a_s:.2f}", a_n])
                # the baseline, in the same run: every task's next step forgotten, so the
                # run reads every awaiting task and its outbox keys (as before next_step_at)
                with rt.sessions.begin() as s:
                    s.execute(update(Task).values(next_step_at=None))
                afresh, f_s, f_n = reconcile(busy_at + dt.timedelta(minutes=1))
                advance_rows.append(
                    [
                        backend,
                        "nothing due, every task reckoned afresh (baseline)",
                        sum(afresh.queued.values()),
                        f"{f_s:.2f}",
                        f_n,
                    ]
                )
                quiet2, q2_s, q2_n = reconcile(busy_at + dt.timedelta(minutes=2))
                advance_rows.append(
                    [
                        backend,
                        f"nothing due, next steps known ({f_s / max(q2_s, 1e-6):.0f}× faster than the baseline)",
                        sum(quiet2.queued.values()),
                        f"{q2_s:.3f}",
                        q2_n,
                    ]
                )
                with rt.sessions() as s:
                    pending = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "pending"))
                assert pending == sum(sum(r.queued.values()) for r in (warm, quiet, busy, again, afresh, quiet2)), (
                    pending,
                    busy.queued,
                )
                busy_row[1] += " — " + ", ".join(f"{k} {v:,}" for k, v in sorted(busy.queued.items()))
            finally:
                rt.close()
    table(
        f"compile a national-scale year ({args.counties:,} county bureaus × the Jilin calendar)",
        ["backend", "tasks", "raw Core s", "compile_year s", "ratio (goal ≤ 3×)", "SQL statements"],
        compile_rows,
    )
    table(
        "advance (reconcile: open, mark overdue, queue; no sending) — goal < 2 s",
        ["backend", "case", "messages queued", "seconds", "SQL statements"],
        advance_rows,
    )
    table(
        "the busy run beside a raw Core insert of the same outbox rows (same run) — goal ≤ 3×",
        ["backend", "rows", "raw Core insert s", "busy advance s", "ratio"],
        raw_busy,
    )


if __name__ == "__main__":
    main()
