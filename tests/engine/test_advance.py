"""The reconcile under a controlled clock, with three personas — a punctual bureau, a
late one and an exempt one — on SQLite and PostgreSQL, with a real SMTP server."""

from __future__ import annotations

import pytest

import datetime as dt
import threading

from sqlalchemy import select

from yearwheel import usecases as R
from models.queries import list_task_status
from models.tables import OutboxMessage, StatusChange, Submission, Task
from tests.engine.conftest import PROGRAMME, coordinator, ledger, submit, tasks_of

PUNCTUAL = "office@punctual.example.gov.cn"
LATE = "office@late.example.gov.cn"
EXEMPT = "office@exempt.example.gov.cn"
GOOD = {"enterprises_served": 12, "summary": "全年走访企业12家，完成问诊服务。"}


def subjects_to(world, address):
    return [m["Subject"] for m in world.smtp.messages if m["To"] == address]


def test_a_year_for_three_personas(world):
    r = world.advance("2023-11-30T09:00")
    assert r.reconcile.compiled == [f"{PROGRAMME}/2023"]
    assert r.reconcile.opened == 0 and world.smtp.messages == []

    r = world.advance("2023-12-01T09:00")
    assert r.reconcile.opened == 3
    assert sorted(world.recipients()) == sorted([PUNCTUAL, LATE, EXEMPT])  # one opening notice each

    # the same instant again: nothing changes, nothing is sent
    again = world.advance("2023-12-01T09:00")
    assert again.reconcile.opened == 0 and sum(again.reconcile.queued.values()) == 0 and again.dispatch.sent == 0
    assert len(world.smtp.messages) == 3

    coordinator(world, "exempt", "2023-12-05T10:00", "exempt-city", reason="机构改革，本年度免报")
    assert submit(world, "2023-12-15T10:30", "punctual-city", GOOD) == (1, True)
    assert len(subjects_to(world, PUNCTUAL)) == 2  # opened + acknowledgement

    world.advance("2023-12-18T09:00")  # 5 working days before: only the late city still awaits
    assert len(subjects_to(world, LATE)) == 2 and len(subjects_to(world, EXEMPT)) == 1 and len(subjects_to(world, PUNCTUAL)) == 2

    world.advance("2023-12-22T09:00")
    world.advance("2023-12-25T09:00")
    assert len(subjects_to(world, LATE)) == 4  # opened, 5 before, 1 before, due today

    r = world.advance("2023-12-26T00:05")
    assert r.reconcile.overdue == 1
    world.advance("2023-12-27T09:00")  # first chaser
    world.advance("2023-12-28T09:00")  # escalation to the late unit's own head
    assert len(subjects_to(world, LATE)) == 5
    assert len(subjects_to(world, "head@late.example.gov.cn")) == 1
    assert subjects_to(world, "head@punctual.example.gov.cn") == []

    assert submit(world, "2023-12-29T10:00", "late-city", GOOD | {"enterprises_served": 3}) == (1, False)
    world.advance("2024-01-02T09:00")  # would escalate to the coordinator, but it came in
    assert subjects_to(world, "coordinator@province.example.gov.cn") == []

    with ledger(world) as s:
        from models.tables import ProgrammeYear

        py_id = s.scalar(select(ProgrammeYear.id).where(ProgrammeYear.year == 2023))
        rows = {r["participant"]: r for r in list_task_status(s, py_id)}
        assert {p: r["state"] for p, r in rows.items()} == {
            "punctual-city": "submitted",
            "late-city": "submitted",
            "exempt-city": "exempted",
        }
        assert rows["punctual-city"]["reminders_sent"] == 1
        assert rows["late-city"]["reminders_sent"] == 5  # opened, before-5, before-1, due, overdue-1
        assert rows["late-city"]["submitted_at"].startswith("2023-12-29T10:00")
        late_id = s.scalar(tasks_of(2023, "late-city").with_only_columns(Task.id))
        trail = s.execute(
            select(StatusChange.from_state, StatusChange.to_state)
            .where(StatusChange.task_id == late_id)
            .order_by(StatusChange.id)
        ).all()
        assert [tuple(t) for t in trail] == [("waiting", "open"), ("open", "overdue"), ("overdue", "submitted")]

    rt = world.runtime()
    from yearwheel import usecases as R
    from tests.engine.conftest import at

    (roll,) = R.rollup_current(rt, at("2024-01-02T10:00"), year=2023)
    (m,) = roll.milestones
    assert (m.assigned, m.on_time, m.late, m.exempted, m.on_time_rate) == (3, 1, 1, 1, 0.5)
    target = next(t for t in roll.targets if t.target == "enterprises")
    assert (target.value, target.met) == (15, True)  # 12 + 3 ≥ 10


def test_catch_up_after_downtime_sends_no_stale_burst(world):
    world.advance("2023-12-01T09:00")
    assert len(world.smtp.messages) == 3
    # down from 12-01 until 12-29 09:00: the 5-before, 1-before, due-today reminders and the
    # first chaser are all superseded; the escalation and the second chaser are still due.
    r = world.advance("2023-12-29T09:00")
    assert r.reconcile.overdue == 3
    assert r.reconcile.queued == {"overdue": 3, "escalation": 3}
    assert r.reconcile.skipped_stale == 3 * 4
    assert len(subjects_to(world, LATE)) == 2  # opened earlier + the second chaser
    assert len(subjects_to(world, "head@late.example.gov.cn")) == 1
    with ledger(world) as s:
        skipped = s.scalars(
            select(OutboxMessage.step).where(OutboxMessage.state == "skipped", OutboxMessage.recipient == "late-city")
        ).all()
        assert sorted(skipped) == sorted(["before-5@2023-12-25", "before-1@2023-12-25", "due@2023-12-25", "overdue-1@2023-12-25"])
    again = world.advance("2023-12-29T09:00")
    assert again.dispatch.sent == 0 and again.reconcile.skipped_stale == 0


def test_an_extension_moves_the_reminders(world):
    world.advance("2023-12-01T09:00")
    coordinator(world, "extend", "2023-12-20T10:00", "late-city", to=dt.date(2024, 1, 5), reason="疫情影响，延期至1月5日")
    # the bureau is told the new date at once, with the old one and the reason
    assert subjects_to(world, LATE) == [
        "【工作提醒】提交年度提升成效表已启动，请于12月25日前完成",
        "【截止日期调整】提交年度提升成效表：截止日期调整为1月5日",
    ]
    notice = [m for m in world.smtp.messages if m["To"] == LATE][-1].get_body().get_content()
    assert "由2023年12月25日（星期一）调整为2024年1月5日（星期五）" in notice and "疫情影响" in notice
    world.advance("2023-12-25T09:00")
    assert len(subjects_to(world, LATE)) == 2  # no due-today: its due date is 2024-01-05 now
    r = world.advance("2023-12-26T00:05")
    assert r.reconcile.overdue == 2  # punctual and exempt cities (nobody submitted), not the late one
    world.advance("2023-12-29T09:00")  # 5 working days before 2024-01-05
    assert len(subjects_to(world, LATE)) == 3
    assert "2024年1月5日" in [m for m in world.smtp.messages if m["To"] == LATE][-1].get_body().get_content()
    with ledger(world) as s:
        t = s.scalars(tasks_of(2023, "late-city")).one()
        assert (t.state, t.due, t.original_due) == ("open", dt.date(2024, 1, 5), dt.date(2023, 12, 25))
        reasons = s.scalars(select(StatusChange.reason).where(StatusChange.task_id == t.id)).all()
        assert any("extension: due 2023-12-25 → 2024-01-05" in r and "疫情影响" in r for r in reasons)


def test_returned_submission_reopens_and_keeps_history(world):
    world.advance("2023-12-01T09:00")
    submit(world, "2023-12-10T10:00", "punctual-city", GOOD)
    coordinator(world, "return", "2023-12-11T10:00", "punctual-city", reason="服务企业数与名单不符")
    returned = [m for m in world.smtp.messages if m["To"] == PUNCTUAL][-1]
    assert "服务企业数与名单不符" in returned.get_body().get_content()
    assert submit(world, "2023-12-12T10:00", "punctual-city", GOOD | {"enterprises_served": 11}) == (2, True)
    with ledger(world) as s:
        t = s.scalars(tasks_of(2023, "punctual-city")).one()
        versions = s.execute(
            select(Submission.version, Submission.payload).where(Submission.task_id == t.id).order_by(Submission.version)
        ).all()
        assert [(v, p["enterprises_served"]) for v, p in versions] == [(1, 12), (2, 11)]
        trail = (
            s.execute(select(StatusChange.to_state).where(StatusChange.task_id == t.id).order_by(StatusChange.id)).scalars().all()
        )
        assert trail == ["open", "submitted", "returned", "submitted"]


def test_two_advances_at_the_same_instant_send_each_message_once(world):
    world.advance("2023-11-30T09:00")  # compile first; the race is over sending
    results, errors = [], []

    def run():
        try:
            results.append(world.advance("2023-12-01T09:00"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.dispatch.sent for r in results) == 3
    assert sorted(world.recipients()) == sorted([PUNCTUAL, LATE, EXEMPT])


def test_a_failed_delivery_is_recorded_and_retried_later(world):
    from tests.engine.conftest import contacts_yaml
    from tests.pg import free_port

    world.write_contacts(contacts_yaml(free_port()))  # nothing listens there
    r = world.advance("2023-12-01T09:00")
    assert r.dispatch.sent == 0 and r.dispatch.failed == 3
    with ledger(world) as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "opened")).all()
        assert {(m.state, m.attempts) for m in rows} == {("pending", 1)}
        assert all(m.last_error for m in rows)
        assert all(m.not_before > m.due_at for m in rows)  # backoff
    # too early for the retry: nothing is attempted
    world.write_contacts(contacts_yaml(world.smtp.port))
    assert world.advance("2023-12-01T09:01").dispatch.sent == 0
    assert world.advance("2023-12-01T09:10").dispatch.sent == 3
    assert sorted(world.recipients()) == sorted([PUNCTUAL, LATE, EXEMPT])
    assert world.advance("2023-12-01T10:00").dispatch.sent == 0


def test_sms_waits_for_morning_and_is_dropped_once_stale(world):
    from tests.engine.conftest import contacts_yaml
    from tests.sinks import HttpSink

    with HttpSink() as gateway:
        world.write_contacts(
            contacts_yaml(world.smtp.port, sms_url=f"{gateway.url}/sms", extra="    phone: ['+8613900000001']\n")
        )
        # first run late on the due day: email goes at once, the SMS is held for the morning
        r = world.advance("2023-12-25T22:00")
        assert len(subjects_to(world, LATE)) == 2  # opening notice + due today, by email
        assert gateway.requests == []
        # next morning the held texts would be stale (the due day is over): not sent
        r = world.advance("2023-12-26T09:00")
        assert r.dispatch.skipped == 2 and gateway.requests == []
        # a chaser in working hours goes by SMS at once
        world.advance("2023-12-27T09:00")
        (req,) = gateway.requests
        assert req.json["phone"] == "+8613900000001" and "已逾期2个工作日" in req.json["message"]
        assert world.advance("2023-12-27T09:00").dispatch.sent == 0


def test_a_missing_contact_is_reported_and_sent_once_the_file_lists_it(world):
    from tests.engine.conftest import contacts_yaml

    full = contacts_yaml(world.smtp.port)
    without_exempt = full[: full.index("  exempt-city:")]
    world.write_contacts(without_exempt)
    r = world.advance("2023-12-01T09:00")
    assert r.reconcile.unreachable == {"exempt-city"} and r.dispatch.sent == 2
    world.write_contacts(full)
    r = world.advance("2023-12-01T10:00")
    assert r.reconcile.unreachable == set() and r.dispatch.sent == 1
    assert subjects_to(world, EXEMPT) and len(world.smtp.messages) == 3


@pytest.mark.slow
def test_two_advance_processes_at_once_deliver_each_message_once(world):
    import os
    import subprocess
    import sys
    from pathlib import Path

    world.advance("2023-11-30T09:00")
    exe = Path(sys.executable).parent / "yearwheel"
    cmd = [
        str(exe),
        "advance",
        "--at",
        "2023-12-18T09:00",
        "--no-prefect",
        "--json",
        "--calendar-dir",
        str(world.calendar_dir),
        "--contacts",
        str(world.contacts),
    ]
    env = {**os.environ, "YEARWHEEL_DATABASE_URL": world.database_url}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    import json

    sent = sum(json.loads(o[0])["dispatch"]["sent"] for o in outs)
    # each city: the opening notice and the 5-days-before reminder, exactly once
    assert sent == 6 and world.smtp.wait_for(6)
    assert sorted(world.recipients()) == sorted([PUNCTUAL, LATE, EXEMPT] * 2)


def test_rollup_rates_come_from_counts_not_from_averages(world):
    from yearwheel import usecases as R
    from tests.engine.conftest import at

    world.advance("2023-12-01T09:00")
    submit(world, "2023-12-10T10:00", "punctual-city", GOOD | {"inspected": 100, "passed": 99})
    submit(world, "2023-12-11T10:00", "late-city", GOOD | {"enterprises_served": 3, "inspected": 20, "passed": 17})
    (roll,) = R.rollup_current(world.runtime(), at("2023-12-12T10:00"), year=2023)
    targets = {t.target: t for t in roll.targets}
    rate = targets["pass-rate"]
    # (99 + 17) / (100 + 20) = 96.67 %, met; the average of the two rates (92 %) would not be
    assert (rate.numerator, rate.denominator, rate.value, rate.met) == (116, 120, 96.67, True)
    each = targets["served-each"]
    assert each.by_participant == {"exempt-city": None, "late-city": 3, "punctual-city": 12}
    assert each.met is False  # late-city has 3 < 5, and exempt-city nothing
    assert targets["enterprises"].value == 15


def test_a_claim_left_by_a_dead_sender_is_taken_back_after_the_lease(world, caplog):
    import datetime as dt
    import logging

    from sqlalchemy import update

    from models import outbox as O
    from tests.engine.conftest import at

    rt = world.runtime()
    R.advance(rt, at("2023-12-01T09:00"), send=False)
    progs = {p.id: p for p in rt.programmes}
    real_now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
    with rt.sessions.begin() as s:  # a sender claimed every row, then died
        s.execute(update(OutboxMessage).values(state="sending", claimed_by="dead-sender", claimed_at=real_now, attempts=1))
    # a run replaying a later instant, a minute later: the claims are still alive
    r = O.dispatch(
        rt.sessions,
        rt.messenger,
        programmes=progs,
        cal=rt.cal,
        at=at("2023-12-05T09:00"),
        lease_clock=lambda: real_now + dt.timedelta(minutes=1),
    )
    assert (r.reclaimed, r.sent) == (0, 0) and world.smtp.messages == []
    # eleven minutes later the lease has expired: the rows go back to the queue and out
    r = O.dispatch(
        rt.sessions,
        rt.messenger,
        programmes=progs,
        cal=rt.cal,
        at=at("2023-12-05T09:00"),
        lease_clock=lambda: real_now + dt.timedelta(minutes=11),
    )
    assert (r.reclaimed, r.sent) == (3, 3) and len(world.smtp.messages) == 3
    (reclaim,) = [rec for rec in caplog.records if rec.getMessage().startswith("reclaimed ")]
    assert reclaim.levelno == logging.WARNING and reclaim.name == "yearwheel.outbox"
    assert "reclaimed 3 message(s) whose sender stopped mid-send (claimed over 10 minutes ago)" in reclaim.getMessage()
    with ledger(world) as s:
        assert {m.attempts for m in s.scalars(select(OutboxMessage))} == {2}


def test_each_address_is_its_own_message_so_a_retry_never_doubles_another(world):
    from tests.engine.conftest import contacts_yaml

    world.write_contacts(
        contacts_yaml(world.smtp.port).replace(
            "    email: [office@punctual.example.gov.cn]",
            "    email: [office@punctual.example.gov.cn, backup@punctual.example.gov.cn]",
        )
    )
    world.smtp.defer.add("backup@punctual.example.gov.cn")  # 451: try again later
    r = world.advance("2023-12-01T09:00")
    assert (r.dispatch.sent, r.dispatch.failed) == (3, 1)
    world.smtp.defer.clear()
    r = world.advance("2023-12-01T09:30")  # after the backoff: only the failed address is retried
    assert (r.dispatch.sent, r.dispatch.failed) == (1, 0)
    assert world.recipients().count(PUNCTUAL) == 1
    assert world.recipients().count("backup@punctual.example.gov.cn") == 1


def test_a_calendar_edited_mid_year_moves_awaiting_tasks_and_keeps_history(world):
    world.advance("2023-12-01T09:00")
    submit(world, "2023-12-10T10:00", "punctual-city", GOOD)
    world.advance("2023-12-26T00:05")  # the other two are overdue now
    text = (world.calendar_dir / "engine-demo.yaml").read_text(encoding="utf-8")
    (world.calendar_dir / "engine-demo.yaml").write_text(
        text.replace("due: {rule: fixed, month: 12, day: 25}", "due: {rule: fixed, month: 12, day: 29}"), encoding="utf-8"
    )
    r = world.advance("2023-12-26T09:00")
    # both years in the ledger (2024 was compiled on December 1st) follow the edited calendar
    assert r.reconcile.compiled == [f"{PROGRAMME}/2023", f"{PROGRAMME}/2024"]
    with ledger(world) as s:
        tasks = {t.participant: t for t in s.scalars(tasks_of(2023))}
        assert {p: (t.state, t.due) for p, t in tasks.items()} == {
            "punctual-city": ("submitted", dt.date(2023, 12, 25)),  # what was submitted keeps its date
            "late-city": ("open", dt.date(2023, 12, 29)),
            "exempt-city": ("open", dt.date(2023, 12, 29)),
        }
        reasons = s.scalars(select(StatusChange.reason).where(StatusChange.task_id == tasks["late-city"].id)).all()
        assert "calendar changed: due 2023-12-25 → 2023-12-29: 引擎测试计划的工作计划调整" in reasons
    # reminders follow the new date: 1 working day before 12-29 is 12-28
    world.advance("2023-12-28T09:00")
    assert subjects_to(world, LATE)[-1].startswith("【临期提醒】")
