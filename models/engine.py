"""The level-triggered reconcile: make the ledger match the calendar as of an instant.

``reconcile`` compiles the year if needed, opens tasks whose time has come, marks late
ones overdue, and queues the reminders, chasers and escalations that are due into the
outbox. ``dispatch`` sends what the outbox holds. Both are safe to run again for the
same instant (nothing changes, nothing is sent) and after downtime (stale reminders are
recorded as skipped instead of sent in a burst; see ``timeline.chase``).

Message text and addresses are the business of ``notifications``; this module reaches
them only through the ``Messenger`` and ``Sender`` protocols the caller passes in, so
the domain stays free of apprise and templates.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import states as S
from .ledger import LoadedProgramme, compile_year
from .tables import Delivery, MilestoneInstance, OutboxMessage, ProgrammeYear, Task
from .timeline import TZ, WorkdayCalendar, now
from .timeline.chase import ESCALATION, OVERDUE, Step, task_steps

REMINDER_KINDS = ("opened", "upcoming", "due_today", "overdue", "escalation")

# outbox states
PENDING, SENDING, SENT, FAILED_DEAD, SKIPPED = "pending", "sending", "sent", "dead", "skipped"


class Messenger(Protocol):
    def routes(self, participant: str, audience: str) -> tuple[tuple[str, str], ...]:
        """(channel, address id) for every address of the recipient."""

    def render(self, context: dict[str, Any], channel: str) -> tuple[str, str]: ...

    def release_time(self, channel: str, at: dt.datetime) -> dt.datetime: ...


class Sender(Protocol):
    def send(self, recipient: str, audience: str, channel: str, address: str, subject: str, body: str) -> str:
        """Send one message to one address; return it masked. Raise an exception with a
        ``permanent`` attribute (True: retrying cannot help) on failure."""


@dataclass
class AdvanceReport:
    at: dt.datetime
    compiled: list[str] = field(default_factory=list)
    opened: int = 0
    overdue: int = 0
    queued: Counter = field(default_factory=Counter)  # kind → messages queued
    skipped_stale: int = 0  # reminder steps too late to be worth sending
    undeliverable: int = 0  # messages not queued: the recipient has no contact at all
    unreachable: set[str] = field(default_factory=set)  # who lacks a contact
    missing_years: set[int] = field(default_factory=set)  # working-day data needed to date later chasers

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "compiled": self.compiled, "opened": self.opened, "overdue": self.overdue,
            "queued": dict(self.queued), "skipped_stale": self.skipped_stale, "undeliverable": self.undeliverable,
            "unreachable": sorted(self.unreachable), "missing_workday_years": sorted(self.missing_years),
        }


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(TZ).date()


def programme_years(session: Session, programmes: Iterable[str]) -> list[ProgrammeYear]:
    return list(session.scalars(select(ProgrammeYear).where(ProgrammeYear.programme.in_(list(programmes)))))


def compile_due_years(
    session: Session,
    programmes: list[LoadedProgramme],
    cal: WorkdayCalendar,
    at: dt.datetime,
    report: AdvanceReport,
    only_year: int | None = None,
) -> None:
    """Compile the current year of every programme that runs in it (and recompile edited
    calendars for years already in the ledger)."""
    today = local_day(at)
    for prog in programmes:
        years = {py.year for py in programme_years(session, [prog.id])}
        r = prog.spec.programme.years
        if r.first <= today.year <= r.last:
            years.add(today.year)
        if only_year is not None:
            years = {only_year} if r.first <= only_year <= r.last else set()
        for year in sorted(years):
            _, changed = compile_year(session, prog, year, cal, at=at)
            if changed:
                report.compiled.append(f"{prog.id}/{year}")


def open_and_mark(session: Session, py_ids: list[int], at: dt.datetime, report: AdvanceReport) -> None:
    today = local_day(at)
    to_open = list(
        session.scalars(
            select(Task.id).where(
                Task.programme_year_id.in_(py_ids), Task.state == S.WAITING, or_(Task.opens.is_(None), Task.opens <= today)
            )
        )
    )
    report.opened += len(S.change_states(session, to_open, S.OPEN, at=at, reason="the milestone opened"))
    late = list(
        session.scalars(
            select(Task.id).where(
                Task.programme_year_id.in_(py_ids), Task.state.in_((S.OPEN, S.RETURNED)), Task.due < today
            )
        )
    )
    report.overdue += len(S.change_states(session, late, S.OVERDUE, at=at, reason="the due date passed"))


@dataclass(frozen=True)
class _TaskFacts:
    """The columns of a task that reminders need — plain values, not ORM objects: loading
    14,000 entities cost more than everything else a no-op run does."""

    id: int
    participant: str
    state: str
    opens: dt.date | None
    due: dt.date


@dataclass(frozen=True)
class _TaskRow:
    task: Task | _TaskFacts
    mi: MilestoneInstance
    py: ProgrammeYear


def queue_reminders(
    session: Session,
    programmes: dict[str, LoadedProgramme],
    py_ids: list[int],
    cal: WorkdayCalendar,
    messenger: Messenger,
    at: dt.datetime,
    report: AdvanceReport,
    *,
    task_ids: list[int] | None = None,
) -> None:
    """Queue every reminder step that is due by ``at`` and not yet queued (or skipped)."""
    awaiting = (Task.programme_year_id.in_(py_ids), Task.state.in_(S.AWAITING))
    q = select(Task.id, Task.participant, Task.state, Task.opens, Task.due, Task.milestone_instance_id).where(*awaiting)
    if task_ids is not None:
        q = q.where(Task.id.in_(task_ids))
    facts = session.execute(q).all()
    if not facts:
        return
    mis = {mi.id: mi for mi in session.scalars(select(MilestoneInstance).where(MilestoneInstance.programme_year_id.in_(py_ids)))}
    pys = {py.id: py for py in session.scalars(select(ProgrammeYear).where(ProgrammeYear.id.in_(py_ids)))}
    rows = [_TaskRow(_TaskFacts(i, p, st, op, du), mis[m], pys[mis[m].programme_year_id]) for i, p, st, op, du, m in facts]
    done: set[tuple[int, str]] = set()
    if task_ids is None:  # one statement, whatever the number of tasks
        done.update((t, k) for t, k in session.execute(
            select(OutboxMessage.task_id, OutboxMessage.step).join(Task, Task.id == OutboxMessage.task_id).where(*awaiting).distinct()
        ))
    else:
        for i in range(0, len(task_ids), 5000):
            done.update((t, k) for t, k in session.execute(
                select(OutboxMessage.task_id, OutboxMessage.step).where(OutboxMessage.task_id.in_(task_ids[i : i + 5000])).distinct()
            ))

    groups: dict[tuple, list[_TaskRow]] = defaultdict(list)
    for r in rows:
        groups[(r.mi.id, r.task.opens, r.task.due)].append(r)

    new_rows: list[dict[str, Any]] = []
    for (_, opens, due), members in groups.items():
        mi, py = members[0].mi, members[0].py
        prog = programmes.get(py.programme)
        if prog is None:
            continue
        policy = next((p for p in prog.spec.reminder_policies if p.id == mi.reminder_policy), None)
        start = max(dt.date(py.year, 1, 1), prog.spec.programme.in_force_from or dt.date.min)
        for step in task_steps(policy, opens=opens, due=due, cal=cal, year_start=start, missing=report.missing_years):
            if step.at > at:
                break
            for r in members:
                if (r.task.id, step.key) in done:
                    continue
                stale = step.stale_at is not None and at >= step.stale_at
                if not stale and not _applies(step, r.task):
                    continue  # e.g. a chaser for a task that is not late (yet)
                new_rows.extend(_messages(prog, r, step, messenger, at, report, cal))
    _insert_ignore(session, new_rows)


def _applies(step: Step, task: Task) -> bool:
    late = task.state == S.OVERDUE
    return late if step.kind in (OVERDUE, ESCALATION) else not late


def _messages(
    prog: LoadedProgramme,
    r: _TaskRow,
    step: Step,
    messenger: Messenger,
    at: dt.datetime,
    report: AdvanceReport,
    cal: WorkdayCalendar,
) -> list[dict[str, Any]]:
    base_key = f"{r.py.programme}/{r.py.year}/{r.mi.milestone}/{r.task.participant}/{step.key}"
    common = {
        "task_id": r.task.id, "kind": step.kind, "step": step.key, "created_at": at, "due_at": step.at,
        "stale_at": step.stale_at, "attempts": 0,
    }
    if step.stale_at is not None and at >= step.stale_at:
        report.skipped_stale += 1
        return [
            {
                **common, "key": f"{base_key}/-/skipped", "recipient": r.task.participant, "audience": "self",
                "channel": "-", "address": None, "subject": "", "body": "", "state": SKIPPED, "not_before": at,
                "last_error": f"not sent: the run came after {step.stale_at.astimezone(TZ):%Y-%m-%d %H:%M}, when a later step superseded it",
            }
        ]
    roles = {x.id: x for x in prog.spec.roles}
    recipients: list[tuple[str, str, str | None]] = []  # (participant, audience, role title)
    if step.kind == ESCALATION:
        for role_id in step.roles:
            role = roles[role_id]
            recipients.append((role.holder, "self", role.title) if role.holder else (r.task.participant, "head", role.title))
    else:
        recipients.append((r.task.participant, "self", None))
    # Counted from the day the message is written, not from the step's nominal day: a
    # reminder queued late (after downtime, or after a return) must not overstate the time left.
    today = local_day(at)
    out: list[dict[str, Any]] = []
    for recipient, audience, role_title in recipients:
        ctx = message_context(
            prog, r.py, r.mi, r.task, step.kind,
            working_days_left=(cal.count_between(today, r.task.due) if today <= r.task.due else 0)
            if step.kind in ("upcoming", "due_today") else None,
            working_days_late=working_days_late(cal, r.task.due, at) if step.kind in (OVERDUE, ESCALATION) else None,
            chaser_number=step.number, escalated_to=role_title,
        )
        out.extend(_per_address(messenger, f"{base_key}/{recipient}", common, recipient, audience, ctx, at, report))
    report.queued[step.kind] += len([o for o in out if o["state"] == PENDING])
    return out


def working_days_late(cal: WorkdayCalendar, due: dt.date, at: dt.datetime) -> int:
    """Working days after ``due`` up to the local day of ``at`` (0 when not late)."""
    today = local_day(at)
    return cal.count_between(due, today) if today > due else 0


def message_context(
    prog: LoadedProgramme, py: ProgrammeYear, mi: MilestoneInstance, task: Task, kind: str, **extra: Any
) -> dict[str, Any]:
    """The facts a message about ``task`` states (``notifications.templates.MessageContext``)."""
    name = prog.names.get(task.participant, task.participant)
    form = prog.forms.get(mi.form) if mi.form else None
    ctx: dict[str, Any] = {
        "kind": kind, "programme_id": py.programme, "programme_title": py.title, "year": py.year,
        "milestone_id": mi.milestone, "milestone_title": mi.title, "participant_id": task.participant,
        "participant_name": name, "due": task.due,
        # why the date differs from the document's — not shown for an individual extension
        "nominal_due": mi.nominal_due if task.due == mi.due else None,
        "opens": task.opens, "form_title": form.title if form else None,
        "working_days_left": None, "working_days_late": None, "chaser_number": None, "escalated_to": None,
        "submitted_at": None, "on_time": None, "version": None, "reason": None, "link": None, "task_id": task.id,
    }
    ctx.update(extra)
    return ctx


def _per_address(
    messenger: Messenger, key: str, common: dict, recipient: str, audience: str, ctx: dict, at: dt.datetime, report: AdvanceReport
) -> list[dict[str, Any]]:
    routes = messenger.routes(recipient, audience)
    if not routes:
        # Nothing is written: the step stays due, so the run after the contacts file is
        # fixed sends it (if it is still worth sending). Every run reports who is missing.
        report.undeliverable += 1
        report.unreachable.add(f"{recipient} ({audience})" if audience != "self" else recipient)
        return []
    out = []
    rendered: dict[str, tuple[str, str]] = {}
    for ch, address in routes:
        if ch not in rendered:
            rendered[ch] = messenger.render(ctx, ch)
        subject, body = rendered[ch]
        # one row per address: a failure at one address is retried without re-sending to the others
        out.append(
            {
                **common, "key": f"{key}/{ch}/{address}", "recipient": recipient, "audience": audience, "channel": ch,
                "address": address, "subject": subject, "body": body, "state": PENDING,
                "not_before": messenger.release_time(ch, max(common["due_at"], at)),
            }
        )
    return out


def queue_message(
    session: Session,
    messenger: Messenger,
    *,
    task: Task,
    key_prefix: str,
    step: str,
    kind: str,
    context: dict[str, Any],
    at: dt.datetime,
) -> int:
    """Queue a one-off message to the task's participant (acknowledgement, returned)."""
    report = AdvanceReport(at)
    common = {"task_id": task.id, "kind": kind, "step": step, "created_at": at, "due_at": at, "stale_at": None, "attempts": 0}
    rows = _per_address(messenger, f"{key_prefix}/{step}/{task.participant}", common, task.participant, "self", context, at, report)
    _insert_ignore(session, rows)
    return len(rows)


def queue_target_escalations(
    session: Session, prog: LoadedProgramme, rollup: Any, messenger: Messenger, at: dt.datetime, report: AdvanceReport
) -> int:
    """Tell the owner of each target behind its pace — once per calendar month, however
    often this runs (the key carries the month). Only targets that name an ``owner``
    escalate. Returns the messages queued."""
    spec = prog.spec
    month = at.astimezone(TZ).strftime("%Y-%m")
    roles = {r.id: r for r in spec.roles}
    rows: list[dict[str, Any]] = []
    for t in rollup.targets:
        if t.pace != "behind":
            continue
        owner = next(x for x in spec.targets if x.id == t.target).owner
        if owner is None:
            continue
        holder = roles[owner].holder if owner in roles else owner
        if not holder:
            continue
        step = f"target-{t.target}-behind@{month}"
        first_of_next = (dt.date.fromisoformat(month + "-01") + dt.timedelta(days=32)).replace(day=1)
        common = {"task_id": None, "kind": "target_behind", "step": step, "created_at": at, "due_at": at,
                  "stale_at": dt.datetime.combine(first_of_next, dt.time(), TZ), "attempts": 0}
        ctx = {
            "kind": "target_behind", "programme_id": prog.id, "programme_title": spec.programme.title, "year": rollup.year,
            "milestone_id": "", "milestone_title": t.title, "participant_id": holder, "participant_name": prog.names.get(holder, holder),
            "due": dt.date.fromisoformat(t.deadline), "submitted_at": at, "target_title": t.title, "target_value": t.value,
            "target_expected": t.expected, "target_goal": t.at_least if t.at_least is not None else t.at_most, "target_unit": t.unit,
        }
        rows += _per_address(messenger, f"{prog.id}/{rollup.year}/target/{t.target}/behind@{month}/{holder}", common, holder,
                             "self", ctx, at, report)
    _insert_ignore(session, rows)
    if rows:
        report.queued["target_behind"] += len(rows)
    return len(rows)


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows; a row whose key exists (another run queued it) is left alone."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    for i in range(0, len(rows), 2000):
        session.execute(dialect_insert(OutboxMessage).on_conflict_do_nothing(index_elements=["key"]), rows[i : i + 2000])


def reconcile(
    session: Session,
    programmes: list[LoadedProgramme],
    cal: WorkdayCalendar,
    messenger: Messenger,
    at: dt.datetime,
    *,
    only_year: int | None = None,
) -> AdvanceReport:
    """Everything ``advance`` does before sending, in one transaction owned by the caller.
    ``only_year`` restricts the work to one programme year (the simulator's)."""
    if at.tzinfo is None:
        raise ValueError("advance needs a timezone-aware instant")
    report = AdvanceReport(at)
    compile_due_years(session, programmes, cal, at, report, only_year)
    py_ids = [
        py.id for py in programme_years(session, [p.id for p in programmes]) if only_year is None or py.year == only_year
    ]
    open_and_mark(session, py_ids, at, report)
    queue_reminders(session, {p.id: p for p in programmes}, py_ids, cal, messenger, at, report)
    return report


# --------------------------------------------------------------------------- dispatch


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0  # transient; will be retried
    dead: int = 0  # permanent, or out of attempts
    skipped: int = 0  # stale, or the task no longer awaits it
    reclaimed: int = 0  # claims of a crashed sender returned to the queue
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("sent", "failed", "dead", "skipped", "reclaimed", "errors")}


MAX_ATTEMPTS = 6
LEASE = dt.timedelta(minutes=10)


def backoff(attempts: int) -> dt.timedelta:
    """5 min, 10, 20, 40, … capped at 6 h."""
    return min(dt.timedelta(minutes=5) * 2 ** max(attempts - 1, 0), dt.timedelta(hours=6))


def dispatch(
    sessions: sessionmaker,
    sender: Sender,
    *,
    at: dt.datetime,
    batch: int = 100,
    workers: int = 8,
    runner: str | None = None,
    clock: Callable[[], dt.datetime] = now,
) -> DispatchReport:
    """Send every outbox row that is due by ``at``.

    A row is claimed (pending → sending, a conditional UPDATE committed before any
    network call) so that two dispatchers never send the same row; each attempt gets a
    ``deliveries`` row before the call and its outcome after. A claim older than
    ``LEASE`` belongs to a sender that died: it is returned to the queue, so the messages
    that were in flight at the crash (at most one per worker thread) may go out twice
    (at-least-once for those; every other row is exactly-once).

    Claims are stamped with the real clock, not ``at``: a lease is about whether a sender
    process is still alive, and a run replaying a past instant (``advance --at``) must not
    take rows that a live run claimed a moment ago."""
    runner = runner or f"dispatch-{uuid.uuid4().hex[:12]}"
    report = DispatchReport()
    with sessions.begin() as s:
        report.reclaimed = s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == SENDING, OutboxMessage.claimed_at < clock() - LEASE)
            .values(state=PENDING, claimed_by=None, last_error="claim expired: the sender stopped mid-send")
        ).rowcount
        report.skipped += s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.state == PENDING,
                OutboxMessage.kind.in_(REMINDER_KINDS),
                OutboxMessage.task_id.in_(select(Task.id).where(Task.state.not_in(S.AWAITING))),
            )
            .values(state=SKIPPED, last_error="not sent: the task was submitted or exempted first")
        ).rowcount
        report.skipped += s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == PENDING, OutboxMessage.stale_at.is_not(None), OutboxMessage.stale_at <= at)
            .values(state=SKIPPED, last_error="not sent: held or retried past the time it was worth sending")
        ).rowcount
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            claimed = _claim(sessions, at, batch, runner, clock())
            if not claimed:
                break
            for outcome, error in pool.map(lambda row: _send_one(sessions, sender, row, at), claimed):
                if outcome == SENT:
                    report.sent += 1
                elif outcome == FAILED_DEAD:
                    report.dead += 1
                    report.errors.append(error)
                else:
                    report.failed += 1
                    report.errors.append(error)
    return report


def _claim(sessions: sessionmaker, at: dt.datetime, batch: int, runner: str, claimed_at: dt.datetime) -> list[dict[str, Any]]:
    with sessions.begin() as s:
        ids = list(
            s.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.state == PENDING, OutboxMessage.not_before <= at)
                .order_by(OutboxMessage.not_before, OutboxMessage.id)
                .limit(batch)
                # PostgreSQL: a concurrent dispatcher skips the rows this one is claiming
                # and takes the next ones instead of queueing behind them (SQLite ignores it).
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        # The state condition makes the claim safe against a concurrent dispatcher: on
        # PostgreSQL the second UPDATE waits for the first to commit, re-checks the row
        # and finds it no longer pending; on SQLite writers are serialised (BEGIN IMMEDIATE).
        rows = s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.state == PENDING)
            .values(state=SENDING, claimed_by=runner, claimed_at=claimed_at, attempts=OutboxMessage.attempts + 1)
            .returning(
                OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.audience, OutboxMessage.channel,
                OutboxMessage.address, OutboxMessage.subject, OutboxMessage.body, OutboxMessage.attempts,
            )
        ).mappings()
        return [dict(r) for r in rows]


def _send_one(sessions: sessionmaker, sender: Sender, row: dict[str, Any], at: dt.datetime) -> tuple[str, str]:
    with sessions.begin() as s:
        delivery = Delivery(outbox_id=row["id"], channel=row["channel"], started_at=at, outcome="started")
        s.add(delivery)
        s.flush()
        delivery_id = delivery.id
    try:
        target = sender.send(row["recipient"], row["audience"], row["channel"], row["address"], row["subject"], row["body"])
    except Exception as exc:  # noqa: BLE001 — every failure is recorded, none lost
        permanent = bool(getattr(exc, "permanent", False))
        reason = f"{type(exc).__name__}: {exc}" if not hasattr(exc, "permanent") else str(exc)
        dead = permanent or row["attempts"] >= MAX_ATTEMPTS
        with sessions.begin() as s:
            s.execute(
                update(Delivery).where(Delivery.id == delivery_id)
                .values(finished_at=at, outcome="failed_permanent" if permanent else "failed", error=reason)
            )
            s.execute(
                update(OutboxMessage).where(OutboxMessage.id == row["id"])
                .values(
                    state=FAILED_DEAD if dead else PENDING, last_error=reason, claimed_by=None,
                    not_before=at + backoff(row["attempts"]),
                )
            )
        who = f"{row['recipient']} {row['channel']}"
        return (FAILED_DEAD if dead else "failed"), f"{who}: {reason}"
    with sessions.begin() as s:
        s.execute(update(Delivery).where(Delivery.id == delivery_id).values(finished_at=at, outcome=SENT, target=target))
        s.execute(update(OutboxMessage).where(OutboxMessage.id == row["id"]).values(state=SENT, sent_at=at, last_error=None))
    return SENT, ""
