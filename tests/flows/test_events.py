"""Prefect events from the ledger: an ``advance`` that marks tasks overdue and a delivery
refused by the mail server produce exactly those events, found through a real Prefect
server's events API and filtered by one bureau; a rolled-back change tells nothing; no
Prefect never stops the engine."""

from __future__ import annotations

import datetime as dt
import logging
import time

import httpx
import pytest
from sqlalchemy import create_engine, select

from models import activity as A
from models.db import make_sessionmaker
from models.tables import Delivery, StatusChange, Task
from tests.engine.conftest import PROGRAMME, World, at, ledger
from yearwheel import usecases as R
from yearwheel.events import EventRelay


def events_api(body: dict) -> list[dict]:
    from prefect.settings import PREFECT_API_URL

    out: list[dict] = []
    page = httpx.post(f"{PREFECT_API_URL.value()}/events/filter", json=body, timeout=30).raise_for_status().json()
    while True:
        out += page["events"]
        if not page.get("next_page"):
            return out
        page = httpx.get(page["next_page"], timeout=30).raise_for_status().json()


def yearwheel_events(since: dt.datetime, expected: int, **filters) -> list[dict]:
    """The yearwheel events the server has persisted since ``since`` (it writes them a moment later)."""
    occurred = {"since": since.isoformat(), "until": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()}
    body = {"filter": {"event": {"prefix": ["yearwheel."]}, "occurred": occurred, **filters}, "limit": 50}
    deadline = time.monotonic() + 60
    while True:
        got = events_api(body)
        if len(got) >= expected or time.monotonic() > deadline:
            time.sleep(1.5)  # and nothing more arrives
            return events_api(body)
        time.sleep(0.3)


def test_an_advance_emits_exactly_the_overdue_marks_and_the_delivery_outcomes(
    tmp_path, database_url, smtp_server, prefect_server
):
    from prefect.events.worker import EventsWorker

    w = World(tmp_path, database_url, smtp_server)
    try:
        w.advance("2023-12-18T09:00")  # opened and reminded, without events (no Prefect configured)
        with ledger(w) as s:
            before_changes = s.scalar(select(StatusChange.id).order_by(StatusChange.id.desc()).limit(1))
            before_deliveries = s.scalar(select(Delivery.id).order_by(Delivery.id.desc()).limit(1))
        smtp_server.reject.add("office@late.example.gov.cn")  # 550: the late city's chaser is dead
        rt = R.open_runtime(
            calendar_dir=w.calendar_dir, programme=PROGRAMME, contacts=w.contacts, database=w.database_url, events=True
        )
        try:
            since = dt.datetime.now(dt.timezone.utc)
            R.advance(rt, at("2023-12-27T09:00"))  # overdue since the 26th; the first chasers go out
        finally:
            rt.close()
        EventsWorker.drain_all(timeout=30)
        with ledger(w) as s:
            changes = s.execute(select(StatusChange.task_id, StatusChange.to_state).where(StatusChange.id > before_changes)).all()
            deliveries = s.execute(select(Delivery.outbox_id, Delivery.outcome).where(Delivery.id > before_deliveries)).all()
            names = {t.id: t.participant for t in s.scalars(select(Task))}
        assert {st for _, st in changes} == {"overdue"} and len(changes) == 3
        outcome = {"sent": "sent", "failed_permanent": "dead"}  # a delivery attempt → the message it settled
        expected = {(f"yearwheel.task.{st}", f"yearwheel.task.{tid}") for tid, st in changes} | {
            (f"yearwheel.delivery.{outcome[o]}", f"yearwheel.message.{oid}") for oid, o in deliveries
        }
        assert any(o == "failed_permanent" for _, o in deliveries), deliveries
        got = yearwheel_events(since, len(expected))
        assert sorted((e["event"], e["resource"]["prefect.resource.id"]) for e in got) == sorted(expected)

        overdue = next(
            e for e in got if e["event"] == "yearwheel.task.overdue" and "迟交市" in e["resource"]["prefect.resource.name"]
        )
        assert overdue["resource"]["yearwheel.label"] == "逾期" and overdue["payload"]["due"] == "2023-12-25"
        roles = {r["prefect.resource.role"]: r for r in overdue["related"]}
        assert roles["participant"]["prefect.resource.name"] == "迟交市市场监督管理局"
        assert roles["programme-year"]["prefect.resource.id"] == f"yearwheel.programme-year.{PROGRAMME}.2023"
        assert roles["milestone"]["prefect.resource.id"].startswith(f"yearwheel.milestone.{PROGRAMME}.2023.")
        dead = next(e for e in got if e["event"] == "yearwheel.delivery.dead")
        assert dead["resource"]["yearwheel.label"] == "放弃发送" and "550" in dead["payload"]["error"]

        # the Event Feed filtered by one bureau: its own overdue mark and its dead chaser, nothing of the others
        mine = yearwheel_events(since, 2, related={"id": [f"yearwheel.participant.{PROGRAMME}.late-city"]})
        late_ids = {tid for tid, p in names.items() if p == "late-city"}
        assert {e["event"] for e in mine} == {"yearwheel.task.overdue", "yearwheel.delivery.dead"}
        assert all(
            any(r["prefect.resource.id"] in {f"yearwheel.task.{t}" for t in late_ids} for r in [e["resource"], *e["related"]])
            for e in mine
        )
    finally:
        w.close()


def test_a_rolled_back_change_tells_nothing_and_a_committed_one_tells_once(tmp_path):
    from models.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'l.db'}"
    upgrade(url)
    maker = make_sessionmaker(create_engine(url))
    told: list[list[A.Fact]] = []
    A.install(maker, told.append)
    fact = A.Fact("task", "overdue", at("2023-12-26T09:00"), 1)
    with pytest.raises(RuntimeError):
        with maker.begin() as s:
            A.note(s, fact)
            raise RuntimeError("the change fails")
    assert told == []
    with maker.begin() as s:
        A.note(s, fact)
    with maker.begin() as s:  # a later transaction of another session tells only its own
        pass
    assert told == [[fact]]


def test_without_prefect_the_engine_goes_on_and_says_so(tmp_path, database_url, smtp_server, caplog):
    """An emitter that fails (no Prefect API, a broken client) costs the events, never the run."""
    w = World(tmp_path, database_url, smtp_server)
    try:
        rt = w.runtime()

        def broken(**_):
            raise ConnectionError("no Prefect API at http://127.0.0.1:9")

        rt.events = EventRelay(rt.sessions, lambda: rt.programmes, broken)
        A.install(rt.sessions, rt.events.add)
        with caplog.at_level(logging.WARNING, logger="yearwheel.events"):
            result = R.advance(rt, at("2023-12-18T09:00"))
        assert result.dispatch.sent > 0 and result.reconcile.opened == 3
        assert any("Prefect event(s) not emitted" in r.getMessage() for r in caplog.records)
    finally:
        w.close()
