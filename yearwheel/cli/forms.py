"""``yearwheel forms export|import``: Excel templates out, filled workbooks in."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Optional

import typer

from yearwheel import usecases as R
from models.enqueue import owner_key
from models.fanout import item_name
from yearwheel.files import write_atomic

from ._common import EXIT_INPUT, AtOpt, CalendarDirOpt, ContactsOpt, YearOpt, err, fail, programme_year_or_exit, runtime
from ._common import instant as parse_at

app = typer.Typer()
forms_app = typer.Typer(help="Excel templates for bureaus, and reading them back.", no_args_is_help=True)
app.add_typer(forms_app, name="forms")


@forms_app.command("export")
def export(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    milestone: Annotated[str, typer.Option("--milestone", help="milestone id")],
    participant: Annotated[Optional[str], typer.Option("--participant", help="only this assignee (default: every one)")] = None,
    out: Annotated[Path, typer.Option("-o", "--output", help="folder for the .xlsx files")] = Path("forms"),
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """One pre-filled .xlsx per assignee (due dates from the ledger, extensions included)."""
    from sqlalchemy import select

    from yearwheel.excel import TaskSheet, build_workbook
    from models.forms import find_form
    from models.tables import MilestoneInstance, Task

    with runtime(calendar_dir, programme=programme_id) as rt:
        prog = rt.programme(programme_id)
        with rt.sessions() as s:
            py = programme_year_or_exit(s, programme_id, year)
            mi = s.scalars(
                select(MilestoneInstance).where(
                    MilestoneInstance.programme_year_id == py.id, MilestoneInstance.milestone == milestone
                )
            ).one_or_none()
            if mi is None:
                known = ", ".join(
                    s.scalars(select(MilestoneInstance.milestone).where(MilestoneInstance.programme_year_id == py.id))
                )
                raise fail(f"{programme_id} {year} has no milestone {milestone!r}; milestones: {known}")
            if not mi.form:
                raise fail(f"milestone {milestone} has no form to fill")
            q = select(Task).where(Task.milestone_instance_id == mi.id).order_by(Task.id)
            tasks = [t for t in s.scalars(q) if participant in (None, t.participant) and t.state != "retired"]
            if not tasks:
                raise fail(f"{participant!r} is not an assignee of {milestone} in {year}")
            form = find_form(prog.spec, mi.form)
            out.mkdir(parents=True, exist_ok=True)
            for t in tasks:
                sheet = TaskSheet(
                    programme_id,
                    py.title,
                    year,
                    milestone,
                    mi.title,
                    t.participant,
                    prog.names.get(t.participant, t.participant),
                    t.due,
                    form,
                    item=t.item_key,
                    item_name=item_name(t),
                )
                # a fan-out task's file is its item's (a division owing 20 measures gets 20 files)
                suffix = f"-{owner_key('', t.item_key).lstrip('#')}" if t.item_key else ""  # plain, or a digest of the key
                path = out / f"{programme_id}-{year}-{milestone}-{t.participant}{suffix}.xlsx"
                buf = io.BytesIO()
                build_workbook(prog.spec, sheet, cal=rt.cal).save(buf)
                write_atomic(path, buf.getvalue())
                print(f"wrote {path} ({sheet.participant_name}, due {t.due})")


@forms_app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="filled .xlsx files")],
    at: AtOpt = None,
    contacts: ContactsOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Validate and record filled workbooks. A file with any problem records nothing (one
    `FILE: sheet!CELL: label — problem` line each); the others are recorded."""
    from yearwheel.excel import WorkbookInvalid, read_meta, read_workbook
    from models.forms import find_form
    from models.submissions import NotAllowed, NotFound

    instant = parse_at(at)
    failed = 0
    with runtime(calendar_dir, contacts) as rt:
        for path in files:
            try:
                wb, meta, rows = read_meta(path)
                try:
                    prog = rt.programme(str(meta["programme"]))
                    form = find_form(prog.spec, str(meta["form"]))
                except (LookupError, KeyError):
                    raise WorkbookInvalid(
                        [f"{path}: programme {meta['programme']!r} / form {meta['form']!r} is not in the calendars"]
                    ) from None
                read = read_workbook(path, prog.spec, form, wb, meta, rows)
                done = R.submit_form(
                    rt,
                    read.programme,
                    read.year,
                    read.milestone,
                    read.participant,
                    read.payload,
                    item=read.item,
                    at=instant,
                    actor=f"{read.participant} (Excel)",
                    source=str(path),
                    send=False,
                    expect_form=read.form_id,
                )
                print(
                    f"{path}: recorded {read.participant} {read.milestone} version {done.version}: "
                    f"{'on time' if done.on_time else 'late'} (due {done.due})"
                )
            except WorkbookInvalid as exc:
                failed += 1
                for p in exc.problems:
                    err(p)
                err(f"{path}: {len(exc.problems)} problem(s); nothing recorded from this file")
            except (NotFound, NotAllowed) as exc:
                failed += 1
                err(f"{path}: {exc}; nothing recorded from this file")
        rt.dispatch(instant)
    if failed:
        raise typer.Exit(EXIT_INPUT)
