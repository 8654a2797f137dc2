"""``yearwheel submit | accept | return | extend | exempt``: acting on one participant's
task, recorded with who and why, the bureau's message sent after the commit. Exit codes:
``_common``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from yearwheel import usecases as R

from ._common import (
    EXIT_INPUT,
    ActorOpt,
    AtOpt,
    CalendarDirOpt,
    ContactsOpt,
    YearOpt,
    err,
    fail,
    runtime,
)
from ._common import instant as parse_at

app = typer.Typer()
ItemOpt = Annotated[Optional[str], typer.Option("--item", help="a fan-out milestone: the item's key (e.g. its credit code)")]


# --------------------------------------------------------------------------- submissions and coordinator actions


@app.command()
def submit(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    milestone: Annotated[str, typer.Option("--milestone", help="milestone id")],
    participant: Annotated[str, typer.Option("--participant", help="the submitting participant's id")],
    file: Annotated[Path, typer.Option("--file", help="the filled form: YAML or JSON mapping field → value")],
    item: ItemOpt = None,
    at: AtOpt = None,
    actor: Annotated[Optional[str], typer.Option("--actor", help="who submits (default: the participant)")] = None,
    contacts: ContactsOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Validate a filled form and record it: the task closes (on time or late), an acknowledgement goes out.

    On any field problem nothing is stored (exit 1, one line per problem)."""
    from models.forms import PayloadInvalid, load_payload
    from models.submissions import NotAllowed, NotFound

    instant = parse_at(at)
    try:
        payload = load_payload(file)
    except PayloadInvalid as exc:
        for p in exc.problems:
            err(f"{file}: {p}")
        raise typer.Exit(EXIT_INPUT) from None
    with runtime(calendar_dir, contacts, programme_id) as rt:
        try:
            done = R.submit_form(
                rt,
                programme_id,
                year,
                milestone,
                participant,
                payload,
                at=instant,
                actor=actor or participant,
                source=str(file),
                item=item,
            )
        except PayloadInvalid as exc:
            for p in exc.problems:
                err(f"{file}: {p}")
            raise fail(f"{len(exc.problems)} problem(s); nothing was recorded") from None
        except (NotFound, NotAllowed) as exc:
            raise fail(str(exc)) from None
    d = done.dispatch
    assert d is not None  # sent at once (send=True)
    print(
        f"recorded {participant} {milestone} version {done.version}: {'on time' if done.on_time else 'late'} (due {done.due}); "
        f"acknowledgement sent {d.sent}, failed {d.failed + d.dead}"
    )


def _coordinator_action(
    kind: str,
    programme_id: str,
    year: int,
    milestone: str,
    participant: str,
    actor: str,
    reason: str,
    at: str | None,
    calendar_dir: Path | None,
    contacts: Path | None,
    new_due: dt.date | None = None,
    item: str | None = None,
) -> None:
    from models import submissions as U
    from models.states import TransitionRefused

    instant = parse_at(at)
    with runtime(calendar_dir, contacts, programme_id) as rt:
        try:
            done = R.coordinator_action(
                rt,
                kind,
                programme_id,
                year,
                milestone,
                participant,
                actor=actor,
                reason=reason,
                at=instant,
                new_due=new_due,
                item=item,
            )
        except (U.NotFound, U.NotAllowed, TransitionRefused) as exc:
            raise fail(str(exc)) from None
    print(f"{participant} {milestone}: {done['state']}, due {done['due']} ({done['action']} by {actor}: {reason})")


Milestone = Annotated[str, typer.Option("--milestone", help="milestone id")]
Participant = Annotated[str, typer.Option("--participant", help="participant id")]
Reason = Annotated[str, typer.Option("--reason", help="why (recorded in the audit trail)")]


@app.command()
def accept(
    programme_id: Annotated[str, typer.Argument()],
    year: YearOpt,
    milestone: Milestone,
    participant: Participant,
    actor: ActorOpt,
    reason: Annotated[str, typer.Option("--reason", help="a note for the audit trail")] = "accepted",
    item: ItemOpt = None,
    at: AtOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Accept the latest submitted version: the bureau can no longer replace it (unless it is returned)."""
    _coordinator_action("accept", programme_id, year, milestone, participant, actor, reason, at, calendar_dir, None, item=item)


@app.command("return")
def return_(
    programme_id: Annotated[str, typer.Argument()],
    year: YearOpt,
    milestone: Milestone,
    participant: Participant,
    reason: Reason,
    actor: ActorOpt,
    item: ItemOpt = None,
    at: AtOpt = None,
    contacts: ContactsOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Return a submission for revision: the task reopens (history kept) and the bureau is told why."""
    _coordinator_action(
        "return", programme_id, year, milestone, participant, actor, reason, at, calendar_dir, contacts, item=item
    )


@app.command()
def extend(
    programme_id: Annotated[str, typer.Argument()],
    year: YearOpt,
    milestone: Milestone,
    participant: Participant,
    to: Annotated[str, typer.Option("--to", help="the new due date, YYYY-MM-DD")],
    reason: Reason,
    actor: ActorOpt,
    item: ItemOpt = None,
    at: AtOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Grant one participant an extension; reminders follow the new date."""
    try:
        new_due = dt.date.fromisoformat(to)
    except ValueError:
        raise fail(f"--to {to!r}: expected a date YYYY-MM-DD") from None
    _coordinator_action(
        "extend", programme_id, year, milestone, participant, actor, reason, at, calendar_dir, None, new_due, item
    )


@app.command()
def exempt(
    programme_id: Annotated[str, typer.Argument()],
    year: YearOpt,
    milestone: Milestone,
    participant: Participant,
    reason: Reason,
    actor: ActorOpt,
    item: ItemOpt = None,
    at: AtOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Exempt one participant from a task; it is no longer reminded or counted."""
    _coordinator_action("exempt", programme_id, year, milestone, participant, actor, reason, at, calendar_dir, None, item=item)
