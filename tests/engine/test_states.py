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
    mi = MilestoneInstance(
        programme_year_id=py.id,
        milestone="m",
        title="m",
        kind="submission",
        form=None,
        reminder_policy=None,
        opens=None,
        nominal_due=dt.date(2023, 12, 25),
        due=dt.date(2023, 12, 25),
        rest_day_rule="next_workday",
    )
    session.add(mi)
    session.flush()
    t = Task(
        programme_year_id=py.id,
        milestone_instance_id=mi.id,
        participant="city",
        state=state,
        opens=None,
        due=dt.date(2023, 12, 25),
        original_due=dt.date(2023, 12, 25),
        state_changed_at=AT,
    )
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


# --------------------------------------------------------------------------- the outbox's states


def _outbox_transitions_in_code() -> set[tuple[str, str]]:
    """Every (from, to) an UPDATE of the outbox in the code can make: the state it
    requires in ``.where(OutboxMessage.state == V.X)`` and the one it sets in
    ``.values(state=V.Y)`` (state-changing updates without such a guard are a failure)."""
    import ast
    from pathlib import Path

    from models import vocabulary as V

    found: set[tuple[str, str]] = set()
    root = Path(__file__).resolve().parents[2]
    for path in [root / "models" / n for n in ("outbox.py", "claims.py", "digests.py", "submissions.py", "reconcile.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guards: dict[str, str] = {}  # names spread into a .where(*name): their text
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                guards[node.targets[0].id] = guards.get(node.targets[0].id, "") + ast.unparse(node.value)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values"):
                continue
            sets = [kw.value for kw in node.keywords if kw.arg == "state"]
            if not sets:
                continue
            chain = ast.unparse(node.func.value)
            if "update(OutboxMessage)" not in chain:
                continue
            spread = "".join(guards.get(name, "") for name in guards if f"*{name}" in chain)
            requires = {m for m in V.OUTBOX_STATES if f"OutboxMessage.state == V.{m.upper()}" in chain + spread}
            assert requires, f"{path.name}:{node.lineno}: an outbox state change without a guard on the state it comes from"
            targets = set()
            for value in sets:
                text = ast.unparse(value)
                targets |= {m for m in V.OUTBOX_STATES if f"V.{m.upper()}" in text}
            found |= {(a, b) for a in requires for b in targets}
    return found


def test_every_outbox_state_change_in_the_code_is_allowed():
    from models import vocabulary as V

    used = _outbox_transitions_in_code()
    assert used, "no outbox transitions found: the scan is broken"
    allowed = {(a, b) for a, targets in V.OUTBOX_ALLOWED.items() for b in targets}
    assert used <= allowed, used - allowed
    assert allowed <= used, f"allowed but never made (drop them from the table?): {allowed - used}"


@pytest.mark.parametrize("a", ["pending", "sending", "sent", "dead", "skipped", "digested"])
@pytest.mark.parametrize("b", ["pending", "sending", "sent", "dead", "skipped", "digested"])
def test_outbox_transitions_all_pairs(a, b):
    from models import vocabulary as V

    expected = {("pending", "sending"), ("pending", "skipped"), ("sending", "sent"), ("sending", "pending"), ("sending", "dead")}
    # an escalation under a digest policy is never claimed alone: it shares its digest's outcome
    expected |= {("pending", "digested"), ("pending", "dead")}
    assert ((a, b) in expected) == (b in V.OUTBOX_ALLOWED[a])
    if a in (V.SENT, V.DEAD, V.SKIPPED, V.DIGESTED):
        assert V.OUTBOX_ALLOWED[a] == frozenset()  # final: a message sent, given up or skipped is never reopened
