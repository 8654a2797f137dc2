"""The outbox under a bad day: tasks that change while a run is sending, a sender slower
than its lease, mail servers that answer 451 for hours or 550 at once, and what a
delivery records (real instants, the server's reply, a stable Message-ID). Real SMTP
servers on loopback; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

import datetime as dt
import hashlib
import threading
import time
from collections import Counter

from sqlalchemy import select

from yearwheel import usecases as R
from models import outbox as O
from models.tables import Delivery, OutboxMessage
from models.timeline import TZ
from models import submissions as U
from tests.engine.conftest import PROGRAMME, World, at, dispatch, ledger
from tests.engine.test_faults import widen

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters

GOOD = {"enterprises_served": 12, "summary": "全年走访企业12家。"}


def test_tasks_exempted_submitted_or_extended_during_a_run_get_nothing_stale(world):
    """A slow mail server makes the opening notices of 20 bureaus take seconds. While they
    go out, five bureaus are exempted, one submits and one is extended: none of them gets
    the notice after that, and the extended one is told its new date instead."""
    addresses = widen(world, 17)  # 20 bureaus
    world.smtp.delay = 0.25
    rt = world.runtime()
    R.advance(rt, at("2023-12-01T09:00"), send=False)
    done = threading.Event()

    def run() -> None:
        dispatch(rt, at("2023-12-01T09:00"), workers=1)
        done.set()

    sender = threading.Thread(target=run)
    sender.start()
    deadline = time.monotonic() + 60
    while not world.smtp.messages and time.monotonic() < deadline:
        time.sleep(0.01)
    # the first message is in; rows are claimed one at a time, so those below are not yet
    late_ones = [f"city-{i:03d}" for i in range(10, 17)]
    when = at("2023-12-01T09:00")
    with rt.sessions.begin() as s:  # what a coordinator and a bureau do meanwhile (no dispatch of their own)
        refs = {c: U.find_task(s, PROGRAMME, 2023, "results-submitted", c) for c in late_ones}
        for city in late_ones[:5]:
            U.exempt(s, refs[city], at=when, actor="coordinator", reason="本年度免报")
        U.submit(
            s,
            rt.programme(PROGRAMME),
            refs[late_ones[5]],
            GOOD,
            at=when,
            actor="bureau",
            source="test",
            messenger=rt.messenger,
            cal=rt.cal,
        )
        U.extend(
            s,
            refs[late_ones[6]],
            dt.date(2024, 1, 5),
            at=when,
            actor="coordinator",
            reason="延期",
            messenger=rt.messenger,
            cal=rt.cal,
        )
    sender.join(120)
    assert done.is_set()
    dispatch(rt, when)  # the acknowledgement and the new date go out
    got = Counter(m["To"] for m in world.smtp.messages)
    for city in late_ones[:5]:
        assert got[f"office@{city}.example.gov.cn"] == 0, city
    submitted = f"office@{late_ones[5]}.example.gov.cn"
    assert [m["Subject"][:4] for m in world.smtp.messages if m["To"] == submitted] == ["【回执】"]
    extended = f"office@{late_ones[6]}.example.gov.cn"
    mail = [m for m in world.smtp.messages if m["To"] == extended]
    assert [m["Subject"][:8] for m in mail] == ["【截止日期调整】"]  # never the notice with the old date
    assert "2024年1月5日" in mail[0].get_body().get_content()
    everyone_else = set(addresses) - {f"office@{c}.example.gov.cn" for c in late_ones}
    assert all(got[a] == 1 for a in everyone_else)
    with ledger(world) as s:
        why = {r.last_error for r in s.scalars(select(OutboxMessage).where(OutboxMessage.state == "skipped"))}
    assert any("due date moved" in w for w in why) and any("no longer awaits" in w for w in why)


class Slow:
    """The engine's messenger, held before sending until ``release`` is set; then it fails
    (or succeeds) — a sender stuck longer than its lease."""

    def __init__(self, messenger, *, fail: bool) -> None:
        self.messenger, self.fail = messenger, fail
        self.entered, self.release = threading.Event(), threading.Event()

    def send(self, envelope):
        self.entered.set()
        self.release.wait(60)
        if self.fail:
            raise O.DeliveryError("the server went away", permanent=False)
        return self.messenger.send(envelope)

    def __getattr__(self, name: str):
        return getattr(self.messenger, name)


def _one_message_world(world: World) -> R.Runtime:
    world.write_contacts(f"""version: 1
email: {{host: 127.0.0.1, port: {world.smtp.port}, sender: "测试厅 <noreply@example.gov.cn>", security: none}}
participants:
  punctual-city: {{email: [office@punctual.example.gov.cn]}}
""")
    rt = world.runtime()
    R.advance(rt, at("2023-12-01T09:00"), send=False)
    return rt


def _race(world: World, *, fail: bool) -> tuple[R.Runtime, Slow]:
    rt = _one_message_world(world)
    slow = Slow(rt.messenger, fail=fail)
    t = threading.Thread(target=lambda: dispatch(rt, at("2023-12-01T09:00"), messenger=slow, workers=1))
    t.start()
    assert slow.entered.wait(30)
    # eleven minutes later, as far as the lease knows: another sender takes the row over and delivers it
    later = dt.datetime.now(TZ) + dt.timedelta(minutes=11)
    r = dispatch(rt, at("2023-12-01T09:00"), lease_clock=lambda: later)
    assert (r.reclaimed, r.sent) == (1, 1)
    slow.release.set()
    t.join(60)
    assert not t.is_alive()
    return rt, slow


def test_a_failure_after_the_lease_cannot_undo_another_senders_delivery(world):
    rt, _ = _race(world, fail=True)
    with ledger(world) as s:
        (row,) = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "punctual-city"))
        assert row.state == "sent" and row.last_error is None
        outcomes = sorted(s.scalars(select(Delivery.outcome).where(Delivery.outbox_id == row.id)))
    assert outcomes == ["claim_lost", "sent"]
    r = dispatch(rt, at("2023-12-01T10:00"))  # and nothing goes out a third time
    assert r.sent == 0 and len(world.smtp.messages) == 1


def test_a_late_success_after_the_lease_is_recorded_as_such(world):
    _race(world, fail=False)
    with ledger(world) as s:
        (row,) = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "punctual-city"))
        assert row.state == "sent"
        outcomes = sorted(s.scalars(select(Delivery.outcome).where(Delivery.outbox_id == row.id)))
    assert outcomes == ["claim_lost", "sent"]
    # the double that a sender outliving its lease can cause: two copies, one Message-ID
    ids = [m["Message-ID"] for m in world.smtp.messages]
    assert len(ids) == 2 and len(set(ids)) == 1


def test_a_mail_server_deferring_for_hours_loses_nothing(world):
    world.smtp.defer.add("office@late.example.gov.cn")
    for hour in range(9, 18):  # 451 all day at every hourly run (it was dead after 6 tries)
        world.advance(f"2023-12-01T{hour:02d}:00")
    with ledger(world) as s:
        (row,) = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "late-city", OutboxMessage.kind == "opened"))
        assert (row.state, row.attempts) == ("pending", 9)
        codes = set(s.scalars(select(Delivery.code).where(Delivery.outbox_id == row.id)))
    assert codes == {451}
    world.smtp.defer.clear()
    r = world.advance("2023-12-01T18:00")
    assert r.dispatch.sent == 1 and world.recipients().count("office@late.example.gov.cn") == 1


def test_the_dispatcher_logs_each_batch_and_each_failure_with_its_reason_and_retry(world, caplog):
    """The operator reads, per run: each claim batch, each failure with the server's reply and
    when it is tried again (5 minutes after the first attempt, on the run's clock), and the
    report carries the earliest retry for the summaries."""
    import logging

    caplog.set_level(logging.INFO, logger="yearwheel.outbox")
    world.smtp.defer.add("office@late.example.gov.cn")
    r = world.advance("2023-12-01T09:00")
    assert (r.dispatch.sent, r.dispatch.failed) == (2, 1)
    assert r.dispatch.next_retry_at == at("2023-12-01T09:05")
    assert r.dispatch.as_json()["next_retry_at"] == at("2023-12-01T09:05").isoformat()
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "yearwheel.outbox"]
    assert any(line.startswith("claimed 3 message(s) as ") for line in lines)
    (failure,) = [line for line in lines if "late-city" in line]
    assert "will retry in 5 minutes (at 2023-12-01 09:05)" in failure and "451" in failure
    caplog.clear()
    world.smtp.defer.clear()
    r = world.advance("2023-12-01T09:10")
    assert r.dispatch.sent == 1 and r.dispatch.next_retry_at is None
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING and rec.name == "yearwheel.outbox"]


def test_a_refused_address_is_dead_at_once_with_the_reply(world):
    world.smtp.reject.add("office@late.example.gov.cn")
    r = world.advance("2023-12-01T09:00")
    assert (r.dispatch.sent, r.dispatch.dead, r.dispatch.failed) == (2, 1, 0)
    with ledger(world) as s:
        (row,) = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "late-city"))
        (d,) = s.scalars(select(Delivery).where(Delivery.outbox_id == row.id))
    assert (row.state, row.attempts) == ("dead", 1)
    assert (d.outcome, d.code) == ("failed_permanent", 550) and "550" in d.error
    world.smtp.reject.clear()
    assert world.advance("2023-12-01T10:00").dispatch.sent == 0  # not retried


def test_a_transient_failure_gives_up_only_when_the_step_goes_stale(world):
    world.smtp.defer.add("office@late.example.gov.cn")
    world.advance("2023-12-25T09:00")  # the opening notice and the due-day reminder, both until midnight
    world.advance("2023-12-25T23:55")  # the next try (10 min later) would be after midnight: no longer worth it
    with ledger(world) as s:
        rows = s.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == "late-city", OutboxMessage.channel == "email")
        ).all()
    assert {r.state for r in rows} == {"dead"}
    assert all("gave up" in r.last_error and "451" in r.last_error for r in rows)


def test_deliveries_record_when_they_really_happened_and_the_message_says_so(world):
    before = dt.datetime.now(dt.timezone.utc)
    world.advance("2023-12-01T09:00")  # replaying a past instant
    after = dt.datetime.now(dt.timezone.utc)
    with ledger(world) as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.state == "sent")).all()
        deliveries = s.scalars(select(Delivery)).all()
        keys = {r.recipient: r.key for r in rows}
    assert all(before <= r.sent_at <= after for r in rows)
    assert all(before <= d.started_at <= d.finished_at <= after for d in deliveries)
    for m in world.smtp.messages:
        assert m["Date"].endswith("+0800")
        sent = dt.datetime.strptime(m["Date"], "%a, %d %b %Y %H:%M:%S %z")
        assert before - dt.timedelta(seconds=1) <= sent <= after + dt.timedelta(seconds=1)
    punctual = next(m for m in world.smtp.messages if m["To"] == "office@punctual.example.gov.cn")
    expected = hashlib.sha256(keys["punctual-city"].encode()).hexdigest()[:40]
    assert punctual["Message-ID"] == f"<{expected}@example.gov.cn>"
