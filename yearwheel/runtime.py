"""The composition root: from the settings, open the ledger, read the calendars, the
working days and the contacts, and build the parts the use cases work with. The CLI, the
flows and the web service all start here (``open_runtime``) and then call
``yearwheel.usecases``.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from models import outbox as O
from models.db import describe_url, database_url, make_engine, make_sessionmaker, missing_sqlite_file
from models.ledger import LoadedProgramme
from models.migrate import NotACheckout, current_revision, head_revision
from models.timeline import CalendarInvalid, WorkdayCalendar, catalog
from notifications.messenger import ContactsMessenger, IntakeLinks, load_contacts_or_empty

from . import settings as S

if TYPE_CHECKING:
    from .events import EventRelay

log = logging.getLogger("yearwheel.runtime")


class SchemaNotReady(RuntimeError):
    pass


@dataclass
class Runtime:
    engine: Engine
    sessions: sessionmaker
    programmes: list[LoadedProgramme]
    cal: WorkdayCalendar
    messenger: ContactsMessenger
    broken: dict[str, CalendarInvalid] = field(default_factory=dict)  # calendar file → its problems (not loaded)
    settings: S.Settings = field(default_factory=S.load)
    calendar_dir: Path = field(default_factory=lambda: catalog.calendar_dir(None))  # where the calendars were read
    stamp_clock: Callable[[], dt.datetime] | None = None  # the simulation's clock for delivery records
    events: EventRelay | None = None  # Prefect events from the ledger's facts (yearwheel/events.py)

    def programme(self, programme_id: str) -> LoadedProgramme:
        for p in self.programmes:
            if p.id == programme_id:
                return p
        raise catalog.UnknownProgramme(f"unknown programme {programme_id!r}")

    def dispatch(self, at: dt.datetime) -> O.DispatchReport:
        """Send what the outbox holds for this runtime's programmes, due by ``at``; then tell
        Prefect what the run changed and delivered (when emitting events)."""
        try:
            return O.dispatch(
                self.sessions,
                self.messenger,
                programmes={p.id: p for p in self.programmes},
                cal=self.cal,
                at=at,
                stamp_clock=self.stamp_clock,
            )
        finally:
            self.flush_events()

    def flush_events(self) -> None:
        """Hand what the ledger committed so far to Prefect's events (when emitting)."""
        if self.events is not None:
            self.events.flush()

    def close(self) -> None:
        self.flush_events()
        self.engine.dispose()


def open_database(url: str | None = None) -> tuple[Engine, sessionmaker]:
    """Connect and check the schema is at the latest migration; never create it here."""
    url = database_url(url)
    if missing_sqlite_file(url):
        raise SchemaNotReady(f"the database {describe_url(url)} does not exist: run `yearwheel db upgrade`")
    engine = make_engine(url)
    try:
        rev = current_revision(engine)
    except OperationalError as exc:
        engine.dispose()
        raise SchemaNotReady(f"cannot reach the database {describe_url(url)}: {exc.orig}") from None
    try:
        head = head_revision()
    except NotACheckout as exc:
        engine.dispose()
        raise SchemaNotReady(str(exc)) from None
    if rev != head:
        engine.dispose()
        state = "has no Yearwheel schema" if rev is None else f"is at migration {rev}, not {head}"
        raise SchemaNotReady(f"the database {describe_url(url)} {state}: run `yearwheel db upgrade`")
    return engine, make_sessionmaker(engine)


def load_programmes(directory: Path, programme: str | None = None) -> tuple[list[LoadedProgramme], dict[str, CalendarInvalid]]:
    """Every calendar in ``directory`` (or the one named), each read on its own: a broken
    file is returned with its problems and stops nothing else. Naming a broken programme
    raises its CalendarInvalid."""
    if programme:
        return [LoadedProgramme.read(catalog.find_programme(directory, programme))], {}
    progs, broken = [], {}
    for path in catalog.programme_files(directory):
        try:
            progs.append(LoadedProgramme.read(path))
        except CalendarInvalid as exc:
            broken[str(path)] = exc
            log.error("calendar %s is invalid and is left out: %s", path, exc.problems[0] if exc.problems else exc)
    return progs, broken


def open_runtime(
    *,
    calendar_dir: Path | None = None,
    programme: str | None = None,
    contacts: Path | None = None,
    database: str | None = None,
    settings: S.Settings | None = None,
    events: bool | None = None,
    simulated: bool = False,
) -> Runtime:
    """Everything a use case needs. Explicit arguments (a command's options) win over the
    settings. ``events``: emit Prefect events of what the ledger commits (default: when a
    Prefect server is configured, ``PREFECT_API_URL``; the flows always do), labelled as a
    simulation's when ``simulated``. Raises
    SettingsInvalid, CalendarInvalid (a named programme), SchemaNotReady."""
    settings = settings or S.load()
    directory = catalog.calendar_dir(calendar_dir or settings.calendar_dir)
    progs, broken = load_programmes(directory, programme)
    cal = WorkdayCalendar.from_directory(catalog.workdays_dir(directory))
    secret = settings.secret_bytes()
    intake = IntakeLinks(secret, settings.intake_url, settings.link_days) if secret and settings.intake_url else None
    messenger = ContactsMessenger(
        load_contacts_or_empty(contacts or settings.contacts),
        cal,
        {p.id: p.spec for p in progs},
        intake=intake,
        environ=S.environ(),
    )
    engine, sessions = open_database(database or settings.database_url)
    rt = Runtime(engine, sessions, progs, cal, messenger, broken, settings, directory)
    if events if events is not None else bool(settings.prefect_api_url):
        from models.activity import install

        from .events import EventRelay, prefect_emit

        rt.events = EventRelay(sessions, lambda: rt.programmes, prefect_emit(), simulated=simulated)
        install(sessions, rt.events.add)
    return rt


@contextmanager
def opened(
    calendar_dir: str | Path | None = None, programme: str | None = None, contacts: str | Path | None = None
) -> Iterator[Runtime]:
    """``open_runtime`` for the flows, whose parameters are strings; closed on exit."""
    rt = open_runtime(
        calendar_dir=Path(calendar_dir) if calendar_dir else None,
        programme=programme,
        contacts=Path(contacts) if contacts else None,
        events=True,  # inside a flow run there is a Prefect API, ephemeral or not
    )
    try:
        yield rt
    finally:
        rt.close()
