"""Milestones that fan out from what was submitted (multi-instance from a collection): one
task per row of a table field in an earlier milestone's standing submissions, e.g. one
feedback task per measure of the task sheets (任务交办单), owed by the division the row
names, or one per enterprise of the year's plan for each of the milestone's assignees.

``fan_out`` is level-triggered like the rest of the reconcile: every run makes each
fan-out milestone's tasks match the rows that stand now —

- a row that is new gets its task (``waiting``; it opens and is reminded like any task),
  with an audit row naming the submission and row it came from;
- a task whose row left the source (a returned and corrected plan without it) is
  **retired** with an audit row; its pending reminders are no longer claimable, so they
  are skipped, never sent; a row that comes back revives its task;
- a row whose kept columns changed updates the task's snapshot (audited);
- while a source task has no standing version (returned, awaiting its correction) the
  items it gave keep their tasks as they are: only a new standing version changes them.

Rows that cannot become a task — an empty key, an assignee column naming no participant
— are reported (``AdvanceReport.fan_out_problems``) for the coordinator, never silently
dropped. Tasks are inserted with insert-or-ignore on (milestone, participant, item), so two
runs at once create each task once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, null, select
from sqlalchemy.orm import Session

from . import activity as A
from . import states as S
from .ledger import LoadedProgramme
from .tables import MilestoneInstance, ProgrammeYear, StatusChange, Submission, Task

MAX_KEY = 200  # characters of an item key (Task.item_key)
MAX_NAME = 200  # characters of an item's name kept (it goes into subjects and tables)
RESERVED = ("name", "source_task", "version", "row")  # the snapshot's own entries


@dataclass
class FanOutReport:
    added: int = 0
    retired: int = 0
    revived: int = 0
    updated: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)  # "programme/year/milestone" → what was not done

    def changes(self) -> int:
        return self.added + self.retired + self.revived + self.updated

    def changed(self) -> bool:
        return self.changes() > 0


@dataclass(frozen=True)
class _Row:
    participant: str
    key: str
    snapshot: dict[str, Any]


def item_name(task: Any) -> str:
    """A fan-out task's item as people read it (its name, else its key); '' for the others."""
    return ((task.item or {}).get("name") or task.item_key) if task.item_key else ""


def titled(title: str, task: Any) -> str:
    """A milestone's title naming a fan-out task's item: 报送任务落实情况（长春甲公司）."""
    name = item_name(task)
    return f"{title}（{name}）" if name else title


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _standing(session: Session, src: MilestoneInstance, standing: str) -> dict[int, tuple[str, int, dict]]:
    """Source task id → (participant, version, payload) of its standing version."""
    latest = select(Submission.task_id, func.max(Submission.version).label("v")).group_by(Submission.task_id).subquery()
    q = (
        select(Task.id, Task.participant, Submission.version, Submission.payload)
        .join(latest, latest.c.task_id == Task.id)
        .join(Submission, (Submission.task_id == Task.id) & (Submission.version == latest.c.v))
        .where(Task.milestone_instance_id == src.id, Task.state == S.SUBMITTED)
    )
    if standing == "accepted":
        q = q.where(Task.accepted_at.is_not(None))
    return {tid: (p, v, payload or {}) for tid, p, v, payload in session.execute(q)}


def _awaiting_correction(session: Session, src: MilestoneInstance, standing: str) -> set[int]:
    """Source tasks whose standing version is only waiting: returned for revision (with a
    version before), or submitted and not yet accepted when only acceptance stands."""
    q = select(Task.id, Task.state, Task.accepted_at).where(Task.milestone_instance_id == src.id)
    out = set()
    for tid, state, accepted in session.execute(q):
        if state == S.RETURNED or (standing == "accepted" and state == S.SUBMITTED and accepted is None):
            out.add(tid)
    return out


def desired_rows(
    prog: LoadedProgramme,
    m,
    stands: dict[int, tuple[str, int, dict]],
    assignees: tuple[str, ...],
    problems: list[str],
    drawn: dict[str, tuple[str, ...]] | None = None,
) -> dict[tuple[str, str], _Row]:
    """(participant, item key) → the row that asks for that task, from the standing versions.
    ``drawn``: under ``assignee: {draw: …}``, the standing draw's experts by enterprise
    (credit code or name; see :func:`models.experts.drawn_experts`), None before any draw."""
    fe = m.for_each
    by_name = {p.name: p.id for p in prog.spec.participants} | {p.id: p.id for p in prog.spec.participants}
    out: dict[tuple[str, str], _Row] = {}
    by_draw = fe.assignee is not None and fe.assignee.draw is not None
    if by_draw and drawn is None:
        waiting = sum(len(p.get(fe.field) or []) for _, _, p in stands.values() if isinstance(p.get(fe.field), list))
        if waiting:
            title = prog.spec.milestone(fe.assignee.draw).title
            problems.append(f"“{title}”尚未抽取专家（yearwheel experts draw）：{waiting}行的任务待抽取后生成")
        return out
    for source_task, (giver, version, payload) in sorted(stands.items()):
        rows = payload.get(fe.field) or []
        where = f"{prog.names.get(giver, giver)}第{version}版"
        for n, row in enumerate(rows if isinstance(rows, list) else [], 1):
            if not isinstance(row, dict):
                continue
            key = _text(row.get(fe.key))
            if not key:
                problems.append(f"{where}第{n}行：缺少{fe.key}，未生成任务")
                continue
            if len(key) > MAX_KEY:
                problems.append(f"{where}第{n}行：{fe.key}超过{MAX_KEY}字，未生成任务")
                continue
            name = (_text(row.get(fe.name or fe.key)) or key)[:MAX_NAME]
            snapshot = {
                **{c: row.get(c) for c in fe.keep},
                fe.key: key,
                "name": name,
                **({fe.name: name} if fe.name else {}),
                "source_task": source_task,
                "version": version,
                "row": n,
            }
            owners: tuple[str, ...]
            if by_draw:
                owners = (drawn or {}).get(key) or (drawn or {}).get(name) or ()
                if not owners:
                    problems.append(f"{where}第{n}行（{snapshot['name']}）：不在专家抽取结果中，未生成任务；请重新抽取")
                    continue
            elif fe.assignee is not None and fe.assignee.column is not None:
                named = _text(row.get(fe.assignee.column))
                who = by_name.get(named)
                if who is None:
                    problems.append(
                        f"{where}第{n}行（{snapshot['name']}）：{fe.assignee.column}“{named}”不是本计划的参与单位，未生成任务"
                    )
                    continue
                owners = (who,)
            else:
                owners = assignees
            if any((p, key) in out for p in owners):
                problems.append(f"{where}第{n}行：{fe.key}“{key}”与前面的行重复，只保留第一行")
                continue
            for p in owners:
                out[(p, key)] = _Row(p, key, snapshot)
    return out


def fan_out_milestones(prog: LoadedProgramme) -> set[str]:
    """The milestones a fan-out reads: the fan-out milestones and their sources."""
    fans = [m for _, m in prog.spec.milestones() if m.for_each is not None]
    return {m.id for m in fans} | {m.for_each.milestone for m in fans if m.for_each is not None}


def fan_out(
    session: Session,
    prog: LoadedProgramme,
    py: ProgrammeYear,
    at: dt.datetime,
    report: FanOutReport,
    instances: dict[str, MilestoneInstance] | None = None,
) -> None:
    """Make the fan-out milestones of ``py`` hold one task per standing row. ``instances``:
    the year's ``fan_out_milestones`` as the caller read them (else they are read here)."""
    fans = [(w, m) for w, m in prog.spec.milestones() if m.for_each is not None]
    if not fans:
        return
    if instances is None:
        needed = fan_out_milestones(prog)
        instances = {
            mi.milestone: mi
            for mi in session.scalars(
                select(MilestoneInstance).where(
                    MilestoneInstance.programme_year_id == py.id, MilestoneInstance.milestone.in_(needed)
                )
            )
        }
    held = [(m, instances[m.id], instances.get(m.for_each.milestone)) for _, m in fans if m.id in instances and m.for_each]
    known = _inputs(session, prog, py, held)
    before = report.changes()
    for w, m in fans:
        mi = instances.get(m.id)
        fe = m.for_each
        if mi is None or fe is None:
            continue  # not held this year
        src = instances.get(fe.milestone)
        where = f"{py.programme}/{py.year}/{m.id}"
        if report.changes() != before:
            # a fan-out before this one changed tasks (perhaps this one's source): read again
            known = _inputs(session, prog, py, [(m, mi, src)])
        inputs = known[m.id]
        last = mi.fan_out or {}
        if last.get("inputs") == inputs:
            # nothing it depends on changed since it last fanned out: its tasks match; its
            # rows' problems are still there, and said again
            if last.get("problems"):
                report.problems[where] = list(last["problems"])
            continue
        stands = _standing(session, src, fe.standing) if src is not None else {}
        problems: list[str] = []
        assignees = prog.spec.expand(m.assignees if m.assignees is not None else w.lead)
        drawn = None
        if fe.assignee is not None and fe.assignee.draw is not None:
            from .experts import drawn_experts, standing_draw

            record = standing_draw(session, py.id, fe.assignee.draw)
            drawn = drawn_experts(record) if record is not None else None
        want = desired_rows(prog, m, stands, assignees, problems, drawn)
        # locked: two runs at once retire or revive a task once, and a submission or an
        # exemption under way commits first (PostgreSQL; SQLite serialises writers)
        tasks = {
            (t.participant, t.item_key): t
            for t in session.scalars(select(Task).where(Task.milestone_instance_id == mi.id).with_for_update())
        }
        # items given by a source task awaiting its correction (returned, or submitted and not
        # yet accepted under standing: accepted) keep their tasks as they are; a source task
        # exempted, retired or gone gives nothing any more
        awaiting = _awaiting_correction(session, src, fe.standing) if src is not None else set()
        for (p, k), t in tasks.items():
            given_by = (t.item or {}).get("source_task")
            if given_by in awaiting and t.state != S.RETIRED and (p, k) not in want:
                want[(p, k)] = _Row(p, k, t.item or {})
        _apply(session, prog, m, mi, want, tasks, at, report)
        mi.fan_out = {"inputs": inputs, "problems": problems}
        if problems:
            report.problems[where] = problems


def _fingerprint(py: ProgrammeYear, last: int | None, count: int, drawn: int | None) -> str:
    return f"{py.calendar_digest}|{last or 0}|{count}|{drawn}"


def _draw_of(m: Any) -> str | None:
    return m.for_each.assignee.draw if m.for_each.assignee is not None else None


def _inputs(
    session: Session,
    prog: LoadedProgramme,
    py: ProgrammeYear,
    held: list[tuple[Any, MilestoneInstance, MilestoneInstance | None]],
) -> dict:
    """What each fan-out's rows depend on, in one line: the calendar as compiled, the last
    change to any source task (each submission, return, acceptance, exemption writes one;
    their count too: a change committed after a later-numbered one still counts) and the
    standing expert draw — for all the year's fan-outs in two round trips (the second
    statement built once per process and shape)."""
    from .tables import ExpertDraw

    if not held:
        return {}
    sources = {src.id for _, _, src in held if src is not None}
    ids: dict[int, list[int]] = {i: [] for i in sources}
    for tid, mid in session.execute(select(Task.id, Task.milestone_instance_id).where(Task.milestone_instance_id.in_(sources))):
        ids[mid].append(tid)
    # the source's tasks first, then their audit rows by the task index: a join is planned
    # as a scan of status_changes when the statistics are stale
    of = [ids[src.id] if src is not None else [] for _, _, src in held]
    if sum(len(v) for v in ids.values()) > 5000:  # a wide year: a statement per 5,000 ids (bounded parameters)
        return {m.id: _inputs_wide(session, py, m, mine) for (m, _, _), mine in zip(held, of, strict=True)}
    key = ("fan-out-inputs", tuple(m.id for m, _, _ in held))
    stmt = prog.statements.get(key)
    if stmt is None:
        parts: list[Any] = []
        for k, (m, _, _) in enumerate(held):
            mine = StatusChange.task_id.in_(bindparam(f"ids_{k}", expanding=True))
            parts.append(select(func.max(StatusChange.id)).where(mine).scalar_subquery())
            parts.append(select(func.count()).select_from(StatusChange).where(mine).scalar_subquery())
            draw = _draw_of(m)
            parts.append(
                select(func.max(ExpertDraw.id))
                .where(ExpertDraw.programme_year_id == bindparam("py"), ExpertDraw.milestone == draw)
                .scalar_subquery()
                if draw is not None
                else null()
            )
        stmt = prog.statements[key] = select(*parts)
    row = session.execute(stmt, {"py": py.id} | {f"ids_{k}": mine for k, mine in enumerate(of)}).one()
    return {m.id: _fingerprint(py, *row[3 * k : 3 * k + 3]) for k, (m, _, _) in enumerate(held)}


def _inputs_wide(session: Session, py: ProgrammeYear, m: Any, ids: list[int]) -> str:
    """``_inputs`` of one fan-out over many source tasks, a round trip per 5,000 of them."""
    from .tables import ExpertDraw

    last, count = 0, 0
    for i in range(0, len(ids), 5000):
        hi, n = session.execute(
            select(func.max(StatusChange.id), func.count()).where(StatusChange.task_id.in_(ids[i : i + 5000]))
        ).one()
        last, count = max(last, hi or 0), count + n
    draw = _draw_of(m)
    drawn = None
    if draw is not None:
        drawn = session.scalar(
            select(func.max(ExpertDraw.id)).where(ExpertDraw.programme_year_id == py.id, ExpertDraw.milestone == draw)
        )
    return _fingerprint(py, last, count, drawn)


def _apply(session, prog, m, mi: MilestoneInstance, want: dict, tasks: dict, at: dt.datetime, report: FanOutReport) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    src_title = prog.spec.milestone(m.for_each.milestone).title
    new = [r for k, r in want.items() if k not in tasks]
    if new:
        dialect_insert: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        rows = [
            {
                "programme_year_id": mi.programme_year_id,
                "milestone_instance_id": mi.id,
                "participant": r.participant,
                "item_key": r.key,
                "item": r.snapshot,
                "state": S.WAITING,
                "opens": mi.opens,
                "due": mi.due,
                "original_due": mi.due,
                "state_changed_at": at,
            }
            for r in new
        ]
        made: list[tuple[int, str, str]] = []
        for i in range(0, len(rows), 2000):
            made += session.execute(
                dialect_insert(Task)
                .on_conflict_do_nothing(index_elements=["milestone_instance_id", "participant", "item_key"])
                .returning(Task.id, Task.participant, Task.item_key),
                rows[i : i + 2000],
            ).all()
        snaps = {(r.participant, r.key): r.snapshot for r in new}
        if made:
            session.execute(
                insert(StatusChange),
                [
                    {
                        "task_id": tid,
                        "from_state": None,
                        "to_state": S.WAITING,
                        "at": at,
                        "actor": S.ACTOR_ENGINE,
                        "reason": f"fan-out: item {key} ({snaps[(p, key)]['name']}) from “{src_title}”, "
                        f"task {snaps[(p, key)]['source_task']} version {snaps[(p, key)]['version']} row {snaps[(p, key)]['row']}",
                        "details": {
                            "item": key,
                            **{k: v for k, v in snaps[(p, key)].items() if k in ("source_task", "version", "row")},
                        },
                    }
                    for tid, p, key in made
                ],
            )
        report.added += len(made)
    for k, t in tasks.items():
        r = want.get(k)
        if r is None:
            if t.state not in S.NOT_OWED:
                S.change_state(
                    session, t, S.RETIRED, at=at, reason=f"fan-out: item {t.item_key} is no longer in “{src_title}” as it stands"
                )
                report.retired += 1
            continue
        if t.state == S.RETIRED:
            S.change_state(session, t, S.WAITING, at=at, reason=f"fan-out: item {t.item_key} is back in “{src_title}”")
            # a fresh task: today's dates, nothing submitted or accepted, its reminders anew
            # (the generation is part of their outbox keys: the old ones were skipped)
            t.opens, t.due, t.original_due = mi.opens, mi.due, mi.due
            t.submitted_at = t.on_time = t.accepted_at = t.accepted_by = None
            r = _Row(r.participant, r.key, {**r.snapshot, "generation": int((t.item or {}).get("generation", 0)) + 1})
            t.item = r.snapshot
            report.revived += 1
        if (t.item or {}).get("generation") and "generation" not in r.snapshot:
            r = _Row(r.participant, r.key, {**r.snapshot, "generation": t.item["generation"]})
        if (t.item or {}).get("source_task") != r.snapshot.get("source_task") and _content(t.item or {}) == _content(r.snapshot):
            t.item = r.snapshot  # another source now gives it: who gives it matters when one is returned
        if _content(t.item or {}) != _content(r.snapshot):  # a new version of the same source: provenance stays
            S.record_event(
                session,
                t,
                at=at,
                reason=f"fan-out: item {t.item_key}'s row changed in “{src_title}”",
                details={"item": r.snapshot},
                event=A.ITEM_CHANGED,
            )
            t.item = r.snapshot
            report.updated += 1


PROVENANCE = ("source_task", "version", "row", "generation")


def _content(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in PROVENANCE}
