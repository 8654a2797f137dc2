"""A small world for engine tests: the engine-demo calendar, a contacts file pointing at
a real loopback SMTP server, and a ledger on SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from yearwheel import usecases as R
from models.timeline import TZ

HERE = Path(__file__).parent
PROGRAMME = "engine-demo"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


def contacts_yaml(smtp_port: int, *, sms_url: str | None = None, extra: str = "") -> str:
    sms = f"sms:\n  url: {sms_url}\n" if sms_url else ""
    return f"""version: 1
email:
  host: 127.0.0.1
  port: {smtp_port}
  sender: "测试省市场监管厅 <noreply@example.gov.cn>"
  security: none
{sms}participants:
  province:
    email: [coordinator@province.example.gov.cn]
  punctual-city:
    email: [office@punctual.example.gov.cn]
    head: {{email: [head@punctual.example.gov.cn]}}
  late-city:
    email: [office@late.example.gov.cn]
    head: {{email: [head@late.example.gov.cn]}}
{extra}  exempt-city:
    email: [office@exempt.example.gov.cn]
    head: {{email: [head@exempt.example.gov.cn]}}
"""


class World:
    """A calendar folder (the engine demo, or ``calendar`` text of another programme), a
    contacts file pointing at the loopback SMTP server, and a ledger."""

    def __init__(
        self,
        root: Path,
        database_url: str,
        smtp,
        *,
        calendar: str | None = None,
        programme: str = PROGRAMME,
        contacts: str | None = None,
    ):
        self.root = root
        self.database_url = database_url
        self.smtp = smtp
        self.programme = programme
        self.calendar_dir = root / "calendar"
        self.calendar_dir.mkdir(exist_ok=True)
        if calendar is None:
            shutil.copy(HERE / "engine-demo.yaml", self.calendar_dir / "engine-demo.yaml")
        else:
            (self.calendar_dir / f"{programme}.yaml").write_text(calendar, encoding="utf-8")
        self.contacts = root / "contacts.yaml"
        self.write_contacts(contacts or contacts_yaml(smtp.port))
        self._runtimes: list[R.Runtime] = []

    def write_contacts(self, text: str) -> None:
        self.contacts.write_text(text, encoding="utf-8")

    def runtime(self) -> R.Runtime:
        rt = R.open_runtime(
            calendar_dir=self.calendar_dir, programme=self.programme, contacts=self.contacts, database=self.database_url
        )
        self._runtimes.append(rt)
        return rt

    def advance(self, when: str, **kw) -> R.AdvanceResult:
        rt = self.runtime()
        try:
            return R.advance(rt, at(when), **kw)
        finally:
            rt.close()

    def recipients(self) -> list[str]:
        """Every envelope recipient received so far, in order."""
        return [m["To"] for m in self.smtp.messages]

    def close(self) -> None:
        for rt in self._runtimes:
            rt.close()


@pytest.fixture
def world(tmp_path, database_url, smtp_server):
    w = World(tmp_path, database_url, smtp_server)
    yield w
    w.close()


def submit(
    world: World, when: str, participant: str, payload: dict, milestone: str = "results-submitted", item: str | None = None
):
    from models.submissions import find_task, submit as submit_case

    rt = world.runtime()
    try:
        with rt.sessions.begin() as s:
            ref = find_task(s, PROGRAMME, 2023, milestone, participant, item)
            sub = submit_case(
                s,
                rt.programme(PROGRAMME),
                ref,
                payload,
                at=at(when),
                actor=participant,
                source="test",
                messenger=rt.messenger,
                cal=rt.cal,
            )
            result = (sub.version, sub.on_time)
        rt.dispatch(at(when))
        return result
    finally:
        rt.close()


def coordinator(world: World, action: str, when: str, participant: str, **kw):
    from models import submissions as U

    rt = world.runtime()
    try:
        with rt.sessions.begin() as s:
            ref = U.find_task(s, PROGRAMME, 2023, "results-submitted", participant)
            if action == "return":
                U.return_for_revision(
                    s, rt.programme(PROGRAMME), ref, at=at(when), actor="coordinator", reason=kw["reason"], messenger=rt.messenger
                )
            elif action == "extend":
                U.extend(
                    s, ref, kw["to"], at=at(when), actor="coordinator", reason=kw["reason"], messenger=rt.messenger, cal=rt.cal
                )
            else:
                U.exempt(s, ref, at=at(when), actor="coordinator", reason=kw["reason"])
        rt.dispatch(at(when))
    finally:
        rt.close()


def ledger(world: World):
    """A session on the world's database (read-only use)."""
    from models.db import make_engine, make_sessionmaker

    engine = make_engine(world.database_url)
    world._runtimes.append(type("E", (), {"close": lambda self: engine.dispose()})())
    return make_sessionmaker(engine)()


def dispatch(rt: R.Runtime, when: dt.datetime, *, messenger=None, **kw):
    """The outbox dispatcher on ``rt``'s programmes, with another messenger (a faulty
    sender) or other options when a test needs them."""
    from models import outbox as O

    return O.dispatch(
        rt.sessions, messenger or rt.messenger, programmes={p.id: p for p in rt.programmes}, cal=rt.cal, at=when, **kw
    )


def tasks_of(year: int = 2023, participant: str | None = None):
    """``select(Task)`` of one programme year (the next year is compiled from December 1st,
    so a test looking at 2023 must say so)."""
    from sqlalchemy import select

    from models.tables import ProgrammeYear, Task

    q = select(Task).join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id).where(ProgrammeYear.year == year)
    return q.where(Task.participant == participant) if participant else q
