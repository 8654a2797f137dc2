"""What every command shares: exit codes, options, messages, the settings, the runtime.

Exit codes: 0 success; 1 a problem in the input or the database (an invalid calendar, an
unknown programme or year, a programme that could not be advanced); 2 missing working-day
data for a year that must be planned (or a usage error); 3 a bug (one line, details in a
file).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, Optional

import typer

if TYPE_CHECKING:  # the heavy parts are imported by the commands that use them
    from models.timeline.plan import YearPlan
    from models.timeline.spec import ProgrammeFile
    from models.timeline.workdays import WorkdayCalendar
    from yearwheel.runtime import Runtime
    from yearwheel.settings import Settings

EXIT_INPUT = 1
EXIT_NO_WORKDAYS = 2
EXIT_BUG = 3

CalendarDirOpt = Annotated[
    Optional[Path],
    typer.Option("--calendar-dir", help="calendar directory (default: $YEARWHEEL_CALENDAR_DIR, ./calendar, or the shipped one)"),
]
ContactsOpt = Annotated[
    Optional[Path],
    typer.Option("--contacts", help="contacts file (default: $YEARWHEEL_CONTACTS); without one nothing can be delivered"),
]
AtOpt = Annotated[
    Optional[str], typer.Option("--at", help="the instant to act as of, ISO 8601 (naive = Asia/Shanghai); default now")
]
YearOpt = Annotated[int, typer.Option("--year", help="programme year")]
ActorOpt = Annotated[str, typer.Option("--actor", help="who acts (recorded in the audit trail)")]


def err(message: str) -> None:
    print(message, file=sys.stderr)


def fail(message: str, code: int = EXIT_INPUT) -> typer.Exit:
    err(f"error: {message}")
    return typer.Exit(code)


def settings() -> Settings:
    """The settings, or exit 1 saying which variable to fix."""
    from yearwheel.settings import SettingsInvalid, load

    try:
        return load()
    except SettingsInvalid as exc:
        raise fail(f"the environment is not right: {exc}") from None


def calendar_folder(option: Path | None) -> Path:
    from models.timeline import catalog

    return catalog.calendar_dir(option or settings().calendar_dir)


def instant(text: str | None) -> dt.datetime:
    from models.timeline import InstantInvalid, to_instant

    try:
        return to_instant(text)
    except InstantInvalid as exc:
        raise fail(f"--at: {exc}") from None


def load_calendar(directory: Path, programme_id: str) -> tuple[ProgrammeFile, WorkdayCalendar]:
    from models.timeline import catalog
    from models.timeline.loader import CalendarInvalid, load_programme_file
    from models.timeline.workdays import WorkdayCalendar

    try:
        spec = load_programme_file(catalog.find_programme(directory, programme_id))
        cal = WorkdayCalendar.from_directory(catalog.workdays_dir(directory)).for_spec(spec)
    except catalog.UnknownProgramme as exc:
        raise fail(str(exc)) from None
    except CalendarInvalid as exc:
        for p in exc.problems:
            err(str(p))
        raise fail(f"the calendar has {len(exc.problems)} problem(s); run 'yearwheel validate'") from None
    return spec, cal


def plan_or_exit(spec: ProgrammeFile, year: int, cal: WorkdayCalendar) -> YearPlan:
    """The year's plan, or the decisive reason there is none: a year outside the programme
    first (no working-day file would help), then missing working-day data (exit 2)."""
    from models.timeline.plan import PlanInconsistent, plan_year
    from models.timeline.workdays import MissingWorkdayData

    years = spec.programme.years
    if year not in years:
        raise fail(f"{spec.programme.id} runs {years.first}–{years.last}; {year} is not one of its years")
    try:
        return plan_year(spec, year, cal)
    except MissingWorkdayData as exc:
        raise fail(str(exc), EXIT_NO_WORKDAYS) from None
    except PlanInconsistent as exc:
        raise fail(f"the {year} plan contradicts itself: {exc}") from None


@contextmanager
def runtime(calendar_dir: Path | None, contacts: Path | None = None, programme: str | None = None) -> Iterator[Runtime]:
    """The runtime for a command, every failure to open it said in one line."""
    from sqlalchemy.exc import DBAPIError

    from models.db import describe_url
    from models.timeline import catalog
    from models.timeline.loader import CalendarInvalid
    from models.timeline.workdays import MissingWorkdayData
    from yearwheel.runtime import SchemaNotReady, open_runtime

    config = settings()
    try:
        rt = open_runtime(calendar_dir=calendar_dir, programme=programme, contacts=contacts, settings=config)
    except SchemaNotReady as exc:
        raise fail(str(exc)) from None
    except catalog.UnknownProgramme as exc:
        raise fail(str(exc)) from None
    except CalendarInvalid as exc:
        for p in exc.problems:
            err(str(p))
        raise fail(f"{len(exc.problems)} problem(s) in a calendar or the contacts file") from None
    try:
        yield rt
    except MissingWorkdayData as exc:
        raise fail(str(exc), EXIT_NO_WORKDAYS) from None
    except DBAPIError as exc:
        # the database went away (or refused) mid-run: the transaction in progress was rolled back
        raise fail(
            f"the database {describe_url(config.database())} failed mid-run, nothing half-done was kept: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        ) from None
    finally:
        rt.close()


def programme_year_or_exit(s, programme: str, year: int):
    from models.ledger import find_programme_year

    py = find_programme_year(s, programme, year)
    if py is None:
        raise fail(f"{programme} {year} is not in the ledger: run `yearwheel advance --at {year}-…` first")
    return py


def use_prefect(flag: bool | None) -> bool:
    return flag if flag is not None else bool(settings().prefect_api_url)


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (not the stream of the
    moment the handler was made)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
        except Exception:  # noqa: BLE001 — logging must never break a command
            self.handleError(record)


def quiet_logging() -> None:
    """The commands print what the user needs; the engine's log records (``yearwheel.*``)
    reach the terminal only when ``$YEARWHEEL_LOG_LEVEL`` asks (e.g. INFO, WARNING)."""
    from yearwheel.settings import log_level

    logger = logging.getLogger("yearwheel")
    logger.propagate = False
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
    level = log_level()
    logger.setLevel(getattr(logging, level, logging.CRITICAL + 1) if level else logging.CRITICAL + 1)
