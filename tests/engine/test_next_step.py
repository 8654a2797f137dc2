"""Each task's next step instant (``tasks.next_step_at``) lets a run with nothing due read
no task; it must never make a run miss or delay a step. Property: two ledgers driven by the
same random year — submissions, returns, extensions, exemptions, acceptances, advances at
random instants — one keeping its next-step instants, the other made to reckon every task
from scratch before each run, queue exactly the same outbox rows at every run."""

from __future__ import annotations

import datetime as dt
import random
import shutil

import pytest
from sqlalchemy import select, update

from models import states as S
from models import submissions as U
from models.migrate import upgrade
from models.tables import OutboxMessage, Task
from tests.engine.conftest import HERE, PROGRAMME, at, contacts_yaml
from yearwheel import usecases as R

CITIES = ("punctual-city", "late-city", "exempt-city")


def runtimes(tmp_path, contacts: str | None = None):
    (tmp_path / "calendar").mkdir(exist_ok=True)
    shutil.copy(HERE / "engine-demo.yaml", tmp_path / "calendar" / "engine-demo.yaml")
    (tmp_path / "contacts.yaml").write_text(contacts or contacts_yaml(1), encoding="utf-8")
    out = []
    for name in ("kept", "scratch"):
        url = f"sqlite:///{tmp_path / name}.db"
        upgrade(url)
        out.append(
            R.open_runtime(
                calendar_dir=tmp_path / "calendar", programme=PROGRAMME, contacts=tmp_path / "contacts.yaml", database=url
            )
        )
    return out


def outbox(rt) -> list[tuple]:
    with rt.sessions() as s:
        return sorted(s.execute(select(OutboxMessage.key, OutboxMessage.state, OutboxMessage.kind)).all())


def act(rt, rng_state, when: dt.datetime) -> None:
    """One random coordinator or bureau action (the same in both ledgers: same rng state)."""
    rng = random.Random(rng_state)
    who = rng.choice(CITIES)
    what = rng.choice(("submit", "submit", "return", "extend", "exempt", "accept"))
    prog = rt.programme(PROGRAMME)
    with rt.sessions.begin() as s:
        try:
            ref = U.find_task(s, PROGRAMME, 2023, "results-submitted", who)
        except U.NotFound:
            return  # before the first advance compiled the year
        try:
            if what == "submit":
                U.submit(
                    s,
                    prog,
                    ref,
                    {"enterprises_served": 3, "summary": "报送"},
                    at=when,
                    actor=who,
                    source="test",
                    messenger=rt.messenger,
                    cal=rt.cal,
                )
            elif what == "return":
                U.return_for_revision(s, prog, ref, at=when, actor="c", reason="补充", messenger=rt.messenger)
            elif what == "extend":
                new_due = rt.cal.add(max(ref.task.due, when.date()), rng.randint(1, 6))
                U.extend(s, ref, new_due, at=when, actor="c", reason="延期", messenger=rt.messenger, cal=rt.cal)
            elif what == "exempt":
                if rng.random() < 0.3:  # rarely: an exempted city is out for the year
                    U.exempt(s, ref, at=when, actor="c", reason="免报")
            else:
                U.accept(s, ref, at=when, actor="c")
        except (U.NotAllowed, S.TransitionRefused):
            pass  # not allowed in the task's state: nothing happened, in both


@pytest.mark.parametrize("seed", range(12))
def test_runs_queue_exactly_what_reckoning_every_task_afresh_queues(tmp_path, seed):
    # the late city's head is missing from the contacts at first: its escalations have
    # nobody to go to and stay due until the file is fixed, at a random moment of the year
    partial = contacts_yaml(1).replace("    head: {email: [head@late.example.gov.cn]}\n", "")
    assert partial != contacts_yaml(1)
    kept, scratch = runtimes(tmp_path, partial)
    try:
        rng = random.Random(seed)
        fixed_at = rng.randrange(20, 60)
        when = at("2023-11-20T08:00")
        for n in range(60):
            if n == fixed_at:
                kept.close()
                scratch.close()
                kept, scratch = runtimes(tmp_path, contacts_yaml(1))
            when += dt.timedelta(hours=rng.choice((1, 3, 9, 24, 26, 49, 72)))
            if rng.random() < 0.35:
                state = rng.random()
                for rt in (kept, scratch):
                    act(rt, state, when)
                continue
            with scratch.sessions.begin() as s:  # the twin forgets every instant: all tasks read
                s.execute(update(Task).values(next_step_at=None))
            a = R.advance(kept, when, send=False, roll=False)
            b = R.advance(scratch, when, send=False, roll=False)
            assert outbox(kept) == outbox(scratch), (seed, when)
            assert dict(a.reconcile.queued) == dict(b.reconcile.queued)
            assert a.reconcile.undeliverable == b.reconcile.undeliverable
        assert outbox(kept), "the year queued something"
    finally:
        kept.close()
        scratch.close()


def test_a_run_with_nothing_due_reads_no_task_and_a_change_is_read_at_once(tmp_path):
    (kept, other) = runtimes(tmp_path)
    other.close()
    try:
        R.advance(kept, at("2023-12-18T09:00"), send=False)  # opened; the 5-before reminders queued
        with kept.sessions() as s:
            nxt = dict(s.execute(select(Task.participant, Task.next_step_at).where(Task.state == "open")).all())
        # the next step of every city: the 1-working-day-before reminder on Friday 22nd at 09:00
        assert set(nxt.values()) == {at("2023-12-22T09:00").astimezone(dt.timezone.utc)}
        before = outbox(kept)
        r = R.advance(kept, at("2023-12-19T09:00"), send=False)
        assert outbox(kept) == before and sum(r.reconcile.queued.values()) == 0
        # an extension clears the late city's instant; the next run reckons it again
        with kept.sessions.begin() as s:
            ref = U.find_task(s, PROGRAMME, 2023, "results-submitted", "late-city")
            U.extend(
                s,
                ref,
                dt.date(2024, 1, 5),
                at=at("2023-12-19T10:00"),
                actor="c",
                reason="延期",
                messenger=kept.messenger,
                cal=kept.cal,
            )
        with kept.sessions() as s:
            assert s.scalar(select(Task.next_step_at).where(Task.participant == "late-city", Task.state == "open")) is None
        R.advance(kept, at("2023-12-19T11:00"), send=False)
        with kept.sessions() as s:
            moved = s.scalar(select(Task.next_step_at).where(Task.participant == "late-city", Task.state == "open"))
        assert moved is not None and moved.date() > dt.date(2023, 12, 22)  # follows the new due date
    finally:
        kept.close()
