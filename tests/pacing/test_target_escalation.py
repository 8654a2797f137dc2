"""A target behind its pace is told to its owner once a month, not at every run."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.tables import OutboxMessage
from tests.engine.conftest import ledger, submit


@pytest.fixture
def owned(world):
    path = world.calendar_dir / "engine-demo.yaml"
    text = path.read_text(encoding="utf-8")
    # the yearly count target "enterprises" (≥ 10) gets an owner: the coordinator role (held by the province)
    path.write_text(
        text.replace(
            "    counted_from: {form: results, field: enterprises_served}\n    source: {clause: 测试}\n  - id: pass-rate",
            "    counted_from: {form: results, field: enterprises_served}\n    owner: coordinator\n"
            "    source: {clause: 测试}\n  - id: pass-rate",
            1,
        ),
        encoding="utf-8",
    )
    assert "owner: coordinator" in path.read_text(encoding="utf-8")
    return world


def target_rows(world):
    with ledger(world) as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "target_behind").order_by(OutboxMessage.id)).all()


def test_behind_target_told_monthly(owned):
    world = owned
    r = world.advance("2023-12-01T09:00")
    # 1 Dec: 335 of 365 days gone, 9.18 of 10 expected, 0 achieved: behind
    (t,) = [x for x in r.rollups[0].targets if x.target == "enterprises"]
    assert (t.expected, t.pace) == (9.18, "behind")
    assert r.reconcile.queued["target_behind"] == 1
    (row,) = target_rows(world)
    assert row.task_id is None and row.recipient == "province" and row.state == "sent"
    assert row.step == "target-enterprises-behind@2023-12"
    (mail,) = [m for m in world.smtp.messages if m["To"] == "coordinator@province.example.gov.cn"]
    assert mail["Subject"] == "【目标进度预警】“服务企业”进度落后"
    assert "按计划进度此时应完成9.18" in mail.get_body(("plain",)).get_content()
    # every later run in December: nothing more
    for when in ("2023-12-01T10:00", "2023-12-05T09:00", "2023-12-29T09:00"):
        world.advance(when)
    assert len(target_rows(world)) == 1
    # a target met (12 ≥ 10, before the year ends: ahead) tells nobody
    submit(world, "2023-12-29T10:00", "punctual-city", {"enterprises_served": 12, "summary": "好"})
    r = world.advance("2023-12-29T11:00")
    (t,) = [x for x in r.rollups[0].targets if x.target == "enterprises"]
    assert t.pace == "ahead" and len(target_rows(world)) == 1


def test_targets_without_an_owner_are_paced_but_tell_nobody(world):
    r = world.advance("2023-12-01T09:00")
    (t,) = [x for x in r.rollups[0].targets if x.target == "enterprises"]
    assert t.pace == "behind" and "target_behind" not in r.reconcile.queued
    assert target_rows(world) == []
