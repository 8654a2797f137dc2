"""Escalations as one daily digest per recipient and channel: 33 late bureaus escalated to
the coordinator the same morning make one email, not 33; running the day again sends
nothing more; an escalation that arrives after the day's digest went out is in the next
day's. A real loopback SMTP server; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func, select

from models import vocabulary as V
from models.tables import OutboxMessage
from tests.engine.conftest import World, at, ledger, submit
from tests.engine.test_faults import widen

COORDINATOR = "coordinator@province.example.gov.cn"


@pytest.fixture
def digest_world(world: World) -> World:
    widen(world, 30)  # 33 city bureaus, none of which delivers
    path = world.calendar_dir / "engine-demo.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["reminder_policies"][0]["escalation_digest"] = True
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return world


def to(world: World, address: str) -> list:
    return [m for m in world.smtp.messages if m["To"] == address]


def test_thirty_three_escalations_make_one_digest_and_the_day_again_sends_nothing(digest_world):
    w = digest_world
    w.advance("2023-12-01T09:00")
    submit(w, "2023-12-20T10:00", "punctual-city", {"enterprises_served": 3, "summary": "按时"})  # not late: not listed
    for when in ("2023-12-26T09:00", "2023-12-28T09:00", "2023-12-29T09:00"):
        w.advance(when)
    heads = [m for m in w.smtp.messages if str(m["To"]).startswith("head@")]
    # the unit heads (escalation after 3 working days, on the 28th): one digest each, listing their own bureau
    assert sorted(str(m["To"]) for m in heads) == ["head@exempt.example.gov.cn", "head@late.example.gov.cn"]
    assert all("共1项" in str(m["Subject"]) for m in heads)
    assert to(w, COORDINATOR) == []  # the coordinator's step comes after 5 working days
    w.advance("2024-01-02T09:00")  # 26th–29th and the 2nd (the 1st is a holiday): five working days
    (digest,) = to(w, COORDINATOR)
    body = digest.get_content()
    assert "共32项" in str(digest["Subject"])  # 33 bureaus, one of them delivered
    assert body.count("已逾期5个工作日") == 32
    assert "准时市市场监督管理局" not in body and "迟交市市场监督管理局" in body and "第29市市场监督管理局" in body
    before = len(w.smtp.messages)
    w.advance("2024-01-02T09:00")
    w.advance("2024-01-02T16:30")
    assert len(w.smtp.messages) == before  # the same day again: nothing more
    with ledger(w) as s:
        items = s.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.kind == V.DIGESTED_ESCALATION)
            .group_by(OutboxMessage.state)
        ).all()
        assert dict(items) == {V.DIGESTED: 32 + 2}  # every escalation went out in exactly one digest
        assert s.scalar(select(func.count()).where(OutboxMessage.kind == V.ESCALATION)) == 0  # none alone
        digests = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == V.DIGEST)).all()
        assert sorted((d.recipient, d.state) for d in digests) == [
            ("exempt-city", V.SENT),
            ("late-city", V.SENT),
            ("province", V.SENT),
        ]


def test_an_escalation_after_the_days_digest_goes_in_the_next_one(digest_world):
    from yearwheel import usecases as R

    w = digest_world
    for when in ("2023-12-01T09:00", "2023-12-26T09:00", "2024-01-02T09:00"):
        w.advance(when)
    assert len(to(w, COORDINATOR)) == 1
    # an escalation queued later the same day (as a run after a contacts fix would queue it):
    # a copy of one already sent, under a key of its own
    rt = w.runtime()
    with rt.sessions.begin() as s:
        first = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == V.DIGESTED_ESCALATION, OutboxMessage.recipient == "province")
        ).first()
        assert first is not None and first.state == V.DIGESTED
        later = {c.name: getattr(first, c.name) for c in OutboxMessage.__table__.columns if c.name not in ("id", "digest_id")}
        later.update(
            key=first.key + "/again",
            state=V.PENDING,
            created_at=at("2024-01-02T11:00"),
            not_before=at("2024-01-02T11:00"),
            due_at=at("2024-01-02T11:00"),
        )
        s.execute(OutboxMessage.__table__.insert().values(**later))
    R.advance(rt, at("2024-01-02T11:30"))
    assert len(to(w, COORDINATOR)) == 1  # today's digest went out at 09:00: it waits
    R.advance(rt, at("2024-01-03T09:00"))
    second = to(w, COORDINATOR)[1:]
    assert len(second) == 1
    # tomorrow's digest: the late escalation, and nothing already sent yesterday twice
    assert "共1项" in str(second[0]["Subject"])


def _until_the_coordinators_day(w: World) -> None:
    w.advance("2023-12-01T09:00")
    w.advance("2023-12-26T09:00")


def test_a_refused_digest_takes_its_escalations_with_it_not_into_digested(digest_world):
    w = digest_world
    _until_the_coordinators_day(w)
    w.smtp.reject.add(COORDINATOR)
    w.advance("2024-01-02T09:00")
    with ledger(w) as s:
        (digest,) = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == V.DIGEST, OutboxMessage.recipient == "province"))
        assert digest.state == V.DEAD
        items = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == V.DIGESTED_ESCALATION, OutboxMessage.recipient == "province")
        ).all()
        assert len(items) == 33 and {i.state for i in items} == {V.DEAD}
        assert all("its daily digest could not be sent" in i.last_error and "550" in i.last_error for i in items)
    w.smtp.reject.clear()
    w.advance("2024-01-03T09:00")
    assert to(w, COORDINATOR) == []  # given up is given up, as for a single message: not sent again tomorrow


def test_a_retried_digest_leaves_out_what_was_settled_meanwhile_and_adds_nothing(digest_world):
    from yearwheel import usecases as R

    w = digest_world
    _until_the_coordinators_day(w)
    w.smtp.defer.add(COORDINATOR)
    w.advance("2024-01-02T09:00")  # 451: the digest waits for its retry, its escalations bound to it
    w.smtp.defer.clear()
    submit(w, "2024-01-02T09:02", "late-city", {"enterprises_served": 1, "summary": "补报"})
    rt = w.runtime()
    R.advance(rt, at("2024-01-02T09:10"))
    (digest,) = to(w, COORDINATOR)
    body = digest.get_content()
    assert "共32项" in str(digest["Subject"]) and "迟交市市场监督管理局" not in body
    with ledger(w) as s:
        states = dict(
            s.execute(
                select(OutboxMessage.state, func.count())
                .where(OutboxMessage.kind == V.DIGESTED_ESCALATION, OutboxMessage.recipient == "province")
                .group_by(OutboxMessage.state)
            ).all()
        )
    assert states == {V.DIGESTED: 32, V.SKIPPED: 1}


def test_an_sms_digest_waits_for_the_working_morning(digest_world):
    """An escalation by SMS left over from Friday (after Friday's digest was claimed): the
    Saturday-morning run queues its digest for Monday morning, and nothing is sent at the weekend."""
    from yearwheel import usecases as R
    from tests.engine.conftest import contacts_yaml
    from tests.sinks import HttpSink

    w = digest_world
    with HttpSink() as gateway:
        text = contacts_yaml(w.smtp.port, sms_url=f"{gateway.url}/sms", extra="")
        text = text.replace(
            "  province:\n    email: [coordinator@province.example.gov.cn]\n",
            "  province:\n    email: [coordinator@province.example.gov.cn]\n    phone: ['+8613900000009']\n",
        )
        w.write_contacts(text)
        _until_the_coordinators_day(w)
        w.advance("2024-01-02T09:00")
        texts = len(gateway.requests)
        assert texts == 1  # the coordinator's SMS digest of the 2nd
        rt = w.runtime()
        with rt.sessions.begin() as s:
            sms_item = s.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == V.DIGESTED_ESCALATION, OutboxMessage.channel == "sms")
            ).first()
            row = {
                c.name: getattr(sms_item, c.name) for c in OutboxMessage.__table__.columns if c.name not in ("id", "digest_id")
            }
            row.update(
                key=sms_item.key + "/friday",
                state=V.PENDING,
                created_at=at("2024-01-05T17:00"),
                not_before=at("2024-01-05T17:00"),
            )
            s.execute(OutboxMessage.__table__.insert().values(**row))
        R.advance(rt, at("2024-01-06T08:00"))  # Saturday
        R.advance(rt, at("2024-01-07T12:00"))  # Sunday
        assert len(gateway.requests) == texts
        with ledger(w) as s:
            (pending,) = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == V.DIGEST, OutboxMessage.state == V.PENDING))
        assert pending.channel == "sms" and "/digest/2024-01-08/" in pending.key
        assert pending.not_before.astimezone(at("2024-01-08T00:00").tzinfo).date().isoformat() == "2024-01-08"
        R.advance(rt, at("2024-01-08T09:00"))  # Monday
        assert len(gateway.requests) == texts + 1
