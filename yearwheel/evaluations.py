"""Use cases of the annual evaluation and the monthly bulletin: evaluate a year, rate a
participant, build a month's bulletin, and — on the first working day of a month — write
last month's bulletin and send it to the roles the calendar names. Shared by the CLI,
the console and the monthly flow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import vocabulary as V
from models.bulletin import MonthBulletin, month_bulletin, previous_month
from models.enqueue import insert_new, message_rows
from models.evaluation import Evaluation, evaluate as evaluate_year, rate as record_rating
from models.ledger import find_programme_year
from models.timeline import local_day, to_instant

from .runtime import Runtime
from .usecases import PROGRAMME_FAULTS, problem_text


class NotInLedger(LookupError):
    pass


def evaluate(rt: Runtime, programme: str, year: int, at: dt.datetime) -> Evaluation:
    prog = rt.programme(programme)
    with rt.sessions() as s:
        py = find_programme_year(s, programme, year)
        if py is None:
            raise NotInLedger(f"{programme} {year} is not in the ledger: run `yearwheel advance` for that year first")
        return evaluate_year(s, prog, py, rt.cal, to_instant(at))


def rate(
    rt: Runtime,
    programme: str,
    year: int,
    participant: str,
    indicator: str,
    score: int,
    comment: str,
    *,
    actor: str,
    at: dt.datetime,
) -> int:
    """Record a rating; returns its id."""
    prog = rt.programme(programme)
    with rt.sessions.begin() as s:
        return record_rating(
            s,
            prog,
            year=year,
            participant=participant,
            indicator=indicator,
            score=score,
            comment=comment,
            actor=actor,
            at=to_instant(at),
        ).id


def bulletin(rt: Runtime, programme: str, year: int, month: int, at: dt.datetime) -> MonthBulletin:
    prog = rt.programme(programme)
    with rt.sessions() as s:
        return month_bulletin(s, prog, rt.cal, year, month, to_instant(at))


def first_workday_of_month(rt: Runtime, day: dt.date, programme: str | None = None) -> dt.date:
    """The first working day of ``day``'s month, by the engine's working-day calendar (and
    the programme's own holiday overrides)."""
    cal = rt.cal.for_spec(rt.programme(programme).spec) if programme else rt.cal
    return cal.on_or_after(day.replace(day=1))


def bulletin_path(rt: Runtime, programme: str, year: int, month: int) -> Path:
    return rt.settings.report_dir.absolute() / f"{programme}-bulletin-{year}-{month:02d}.docx"


@dataclass
class BulletinRun:
    programme: str
    year: int
    month: int
    written: Path | None  # the Word file, or None when today is not the day
    queued: int
    reason: str  # what was done, or why nothing was
    bulletin: MonthBulletin | None = None
    dispatch: Any = None


def monthly_bulletins(rt: Runtime, at: dt.datetime, *, force: bool = False, send: bool = True) -> list[BulletinRun]:
    """On the first working day of a month (by the working-day calendar — a cron schedule
    only wakes the flow), write last month's bulletin of every programme that has a
    ``bulletin:`` section and send it to its recipients, once per month and recipient
    (the outbox key carries the month). ``force``: whatever the day."""
    from .reports.documents import write_bulletin_docx

    at = to_instant(at)
    today = local_day(at)
    out: list[BulletinRun] = []
    year, month = previous_month(today.year, today.month)
    for prog in rt.programmes:
        spec = prog.spec
        if spec.bulletin is None:
            continue
        if year not in spec.programme.years:
            out.append(BulletinRun(prog.id, year, month, None, 0, f"{year} is not a year of the programme"))
            continue
        try:  # one programme's missing working days or broken dates stop only its bulletin
            first = rt.cal.for_spec(spec).on_or_after(today.replace(day=1))
            # from the first working day on: a run that failed that day is made up by the next one
            # (each recipient still gets the month's bulletin once: the outbox key carries the month)
            if not force and today < first:
                out.append(BulletinRun(prog.id, year, month, None, 0, f"not yet: the first working day of the month is {first}"))
                continue
            b = bulletin(rt, prog.id, year, month, at)
            path = bulletin_path(rt, prog.id, year, month)
            write_bulletin_docx(b, path)
            with rt.sessions.begin() as s:
                queued, unreachable = queue_bulletin(s, rt, prog, b, at)
        except PROGRAMME_FAULTS as exc:
            out.append(BulletinRun(prog.id, year, month, None, 0, f"stopped: {problem_text(exc)}"))
            continue
        said = f"wrote {path.name}; queued {queued} message(s)"
        if unreachable:
            said += f"; no contact for {', '.join(sorted(unreachable))}"
        out.append(BulletinRun(prog.id, year, month, path, queued, said, b))
    if send and any(r.queued for r in out):
        d = rt.dispatch(at)
        for r in out:
            r.dispatch = d
    return out


def queue_bulletin(s, rt: Runtime, prog, b: MonthBulletin, at: dt.datetime) -> tuple[int, set[str]]:
    """One message per address of each recipient (a group's members each), keyed by the
    month: exactly once. Returns the messages queued and who has no contact."""
    spec = prog.spec
    link = f"{rt.settings.web_url.rstrip('/')}/console/p/{prog.id}/{b.year}/bulletin/{b.month}" if rt.settings.web_url else None
    lines = list(b.prose())
    for i in b.flagged[:50]:
        lines.append(f"· {i.name}“{i.title}”（截止{i.due.month}月{i.due.day}日）：" + ("逾期报送" if i.received_at else "未报送"))
    if len(b.flagged) > 50:
        lines.append(f"……另有{len(b.flagged) - 50}项，见通报全文。")
    rows: list[dict[str, Any]] = []
    unreachable: set[str] = set()
    recipients = spec.holders(spec.bulletin.to) if spec.bulletin else []
    for holder in recipients:
        params = {
            "kind": V.BULLETIN,
            "programme_id": prog.id,
            "programme_title": spec.programme.title,
            "year": b.year,
            "milestone_id": "",
            "milestone_title": f"{b.title}（{b.year}年第{b.month}期）",
            "participant_id": holder,
            "participant_name": prog.names.get(holder, holder),
            "due": local_day(b.cutoff).isoformat(),
            "lines": lines,
            "link": link,
        }
        got = message_rows(
            rt.messenger,
            key=f"{prog.id}/{b.year}/bulletin/{b.year}-{b.month:02d}/{holder}",
            programme=prog.id,
            task_id=None,
            kind=V.BULLETIN,
            step=f"bulletin@{b.year}-{b.month:02d}",
            recipient=holder,
            audience="self",
            at=at,
            due_at=at,
            stale_at=None,
            params=params,
        )
        if not got:
            unreachable.add(holder)
        rows += got
    rows = insert_new(s, rows)  # sent already this month: nothing more
    return len(rows), unreachable
