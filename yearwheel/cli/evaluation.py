"""``yearwheel evaluate | rate | bulletin``: the annual evaluation (考评) and the monthly
bulletin (月度通报), on the terminal, as JSON, or as Word / Excel / HTML files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import ActorOpt, AtOpt, CalendarDirOpt, YearOpt, fail, runtime
from ._common import instant as parse_at

app = typer.Typer()

OutOpt = Annotated[Optional[Path], typer.Option("-o", "--output", help="write a file: .docx, .html (evaluate: also .xlsx)")]


def _write(kind: str, obj, output: Path) -> None:
    from yearwheel.reports import documents as D

    suffix = output.suffix.lower()
    writers = {
        ("evaluation", ".docx"): D.write_evaluation_docx,
        ("evaluation", ".xlsx"): D.write_evaluation_xlsx,
        ("evaluation", ".html"): lambda e, p: D.write_html(D.evaluation_html(e), p),
        ("bulletin", ".docx"): D.write_bulletin_docx,
        ("bulletin", ".html"): lambda b, p: D.write_html(D.bulletin_html(b), p),
    }
    writer = writers.get((kind, suffix))
    if writer is None:
        allowed = ", ".join(s for k, s in writers if k == kind)
        raise fail(f"{output}: cannot write a {kind} as {suffix or 'a file without a suffix'}; use one of {allowed}")
    try:
        writer(obj, output)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None


@app.command()
def evaluate(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    at: AtOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print scores, ranks and their ledger rows as JSON")] = False,
    output: OutOpt = None,
    participant: Annotated[Optional[str], typer.Option("--participant", help="explain one participant's score")] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """The annual evaluation: every cohort's scores and ranks (ties shared), each score explained down to the ledger rows."""
    from models.evaluation import NoScorecard
    from yearwheel import evaluations as E

    instant = parse_at(at)
    with runtime(calendar_dir, programme=programme_id) as rt:
        try:
            e = E.evaluate(rt, programme_id, year, instant)
        except (NoScorecard, E.NotInLedger) as exc:
            raise fail(str(exc)) from None
    if participant is not None and e.participant(participant) is None:
        raise fail(f"{participant!r} is not evaluated by {programme_id}'s scorecard")
    if output is not None:
        _write("evaluation", e, output)
        print(f"wrote {output}: {sum(len(c.rows) for c in e.cohorts)} participants in {len(e.cohorts)} cohort(s)")
        return
    if as_json:
        data = e.as_json()
        if participant:
            data = next(r for c in data["cohorts"] for r in c["ranking"] if r["participant"] == participant)
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    if participant:
        r = e.participant(participant)
        assert r is not None
        console.print(f"{r.name}: {r.rank_text}, total {r.total if r.total is not None else '—'}")
        for s in r.scores:
            refs = ", ".join(str(x.get("task_id") or x.get("submission_id") or x.get("rating_id")) for x in s.evidence)
            console.print(
                f"  {s.label} (weight {s.weight:g}): {s.explanation}" + (f"  [ledger rows: {refs}]" if refs else ""), markup=False
            )
        return
    from yearwheel.reports.documents import evaluation_header, evaluation_rows

    for c in e.cohorts:
        t = Table(title=f"{programme_id} {year} — {c.title}")
        for h in evaluation_header(e, c):
            t.add_column(h)
        for row in evaluation_rows(c):
            t.add_row(*row)
        console.print(t)


@app.command()
def rate(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    participant: Annotated[str, typer.Option("--participant", help="participant id")],
    indicator: Annotated[str, typer.Option("--indicator", help="a rating indicator of the scorecard")],
    score: Annotated[int, typer.Option("--score", help="0–100")],
    comment: Annotated[str, typer.Option("--comment", help="why (shown in the evaluation's explanation)")],
    actor: ActorOpt,
    at: AtOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Record a coordinator's 0–100 rating of a participant for a year, with a comment (the latest counts).

    Earlier ratings are kept as history."""
    from models.evaluation import NoScorecard
    from yearwheel import evaluations as E

    instant = parse_at(at)
    with runtime(calendar_dir, programme=programme_id) as rt:
        try:
            rid = E.rate(rt, programme_id, year, participant, indicator, score, comment, actor=actor, at=instant)
        except (NoScorecard, ValueError) as exc:
            raise fail(str(exc)) from None
    print(f"rating {rid}: {participant} {indicator} {year} = {score} ({actor})")


@app.command()
def bulletin(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    month: Annotated[int, typer.Option("--month", min=1, max=12, help="the month reported on, 1–12")],
    at: AtOpt = None,
    output: OutOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the month's figures and items as JSON")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """The monthly bulletin (月度通报): what fell due, on time, late, still missing; units late months running; targets' pace."""
    from yearwheel import evaluations as E

    instant = parse_at(at)
    if dt.date(year, month, 1) > instant.date():
        raise fail(f"{year}-{month:02d} has not begun at {instant.date()}: nothing to report yet")
    with runtime(calendar_dir, programme=programme_id) as rt:
        b = E.bulletin(rt, programme_id, year, month, instant)
    if output is not None:
        _write("bulletin", b, output)
        print(f"wrote {output}: {b.due} due, {b.count('on_time')} on time, {b.count('late')} late, {b.count('missing')} missing")
        return
    if as_json:
        print(json.dumps(b.as_json(), ensure_ascii=False, indent=2))
        return
    from yearwheel.reports.documents import bulletin_rows

    print(b.title, f"{year}年第{month}期")
    for para in b.prose():
        print(para)
    for row in bulletin_rows(b):
        print("  " + "  ".join(row))
