"""Task states: every (from, to) pair is either allowed and audited, or refused untouched."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from models import states as S
from models.db import Base
from models.tables import MilestoneInstance, ProgrammeYear, StatusChange, Task

AT = dt.datetime(2023, 12, 1, 9, tzinfo=dt.timezone.utc)
_n = itertools.count()


@pytest.fixture(scope="module")
def engine():
    e = create_engine("sqlite://")
    Base.metadata.create_all(e)  # tests only: the app migrates with Alembic
    yield e
    e.dispose()


def _task(session: Session, state: str) -> Task:
    py = ProgrammeYear(programme=f"p{next(_n)}", year=2023, title="t", calendar_digest="x", compiled_at=AT)
    session.add(py)
    session.flush()
    mi = MilestoneInstance(programme_year_id=py.id, milestone="m", title="m", kind="submission", form=None,
                           reminder_policy=None, opens=None, nominal_due=dt.date(2023, 12, 25), due=dt.date(2023, 12, 25),
                           rest_day_rule="next_workday")
    session.add(mi)
    session.flush()
    t = Task(programme_year_id=py.id, milestone_instance_id=mi.id, participant="city", state=state, opens=None,
             due=dt.date(2023, 12, 25), original_due=dt.date(2023, 12, 25), state_changed_at=AT)
    session.add(t)
    session.flush()
    return t


@pytest.mark.parametrize("source,target", list(itertools.product(S.STATES, S.STATES)))
def test_every_pair(engine, source, target):
    with Session(engine) as s:
        t = _task(s, source)
        if target in S.ALLOWED[source]:
            S.change_state(s, t, target, at=AT, actor="tester", reason="because")
            s.flush()
            assert t.state == target
            row = s.scalars(select(StatusChange).where(StatusChange.task_id == t.id)).one()
            assert (row.from_state, row.to_state, row.actor, row.reason) == (source, target, "tester", "because")
        else:
            with pytest.raises(S.TransitionRefused, match=f"cannot become {target}"):
                S.change_state(s, t, target, at=AT)
            s.flush()
            assert t.state == source
            assert s.scalars(select(StatusChange).where(StatusChange.task_id == t.id)).all() == []
        s.rollback()


def test_bulk_change_skips_tasks_that_may_not_move(engine):
    with Session(engine) as s:
        waiting, submitted = _task(s, S.WAITING), _task(s, S.SUBMITTED)
        changed = S.change_states(s, [waiting.id, submitted.id], S.OPEN, at=AT, reason="opens")
        assert changed == [waiting.id]
        rows = s.scalars(select(StatusChange)).all()
        assert [(r.task_id, r.from_state, r.to_state) for r in rows] == [(waiting.id, S.WAITING, S.OPEN)]
        s.rollback()


def test_naive_datetimes_are_refused(engine):
    with Session(engine) as s:
        t = _task(s, S.WAITING)
        t.state_changed_at = dt.datetime(2023, 12, 1, 9)
        with pytest.raises(Exception, match="naive datetime"):
            s.flush()
        s.rollback()
