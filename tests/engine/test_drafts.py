"""Drafts (暂存) in the ledger, on SQLite and PostgreSQL, and receipt numbers: a draft is
type-checked but may be unfinished, is refused once the task cannot be submitted, counts
for nothing, and goes when the task is submitted by any route (here: a file, as
`yearwheel submit` does)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from models import drafts as D
from models.forms import PayloadInvalid, find_form
from models.formtext import zh_message
from models.receipts import read_receipt, receipt_number
from models.tables import Draft, OutboxMessage, StatusChange, Submission
from tests.engine.conftest import PROGRAMME, at, coordinator, ledger, tasks_of


def _save(world, participant: str, values: dict) -> None:
    rt = world.runtime()
    try:
        with rt.sessions.begin() as s:
            task = s.scalars(tasks_of(2023, participant)).one()
            D.save_draft(s, task_id=task.id, values=values, at=at("2023-12-10T10:00"), saved_by="test", client=None)
    finally:
        rt.close()


def test_a_draft_is_checked_for_types_but_may_be_unfinished(world):
    rt = world.runtime()
    spec = rt.programme(PROGRAMME).spec
    form = find_form(spec, "results")
    rt.close()
    # required fields missing: fine; empty inputs are not stored
    assert D.check_draft(spec, form, {"summary": "已走访", "inspected": "", "passed": "  "}) == {"summary": "已走访"}
    with pytest.raises(PayloadInvalid) as exc:
        D.check_draft(spec, form, {"enterprises_served": "十二", "inspected": "-1", "summary": "x" * 2001})
    said = sorted(zh_message(p) for p in exc.value.problems)
    assert said == ["应填写整数（≥ 0），实际为 -1", "应填写整数，实际为 “十二”", "最多 2000 个字，实际 2001 个"]
    with pytest.raises(PayloadInvalid):
        D.check_draft(spec, form, {"nope": "x"})  # only the form's own fields
    big = {"summary": "字" * 2000}
    assert D.check_draft(spec, form, big) == big
    saved = D.MAX_DRAFT_BYTES
    try:
        D.MAX_DRAFT_BYTES = 1000
        with pytest.raises(D.DraftRefused, match="暂存内容过大"):
            D.check_draft(spec, form, big)
    finally:
        D.MAX_DRAFT_BYTES = saved


def test_a_draft_counts_for_nothing_and_goes_with_the_submission(world):
    world.advance("2023-12-01T09:00")
    with ledger(world) as s:
        before = [s.scalar(select(func.count()).select_from(t)) for t in (Submission, StatusChange, OutboxMessage)]
    _save(world, "late-city", {"summary": "初稿"})
    _save(world, "late-city", {"summary": "第二稿", "enterprises_served": "3"})  # replaces, one per task
    with ledger(world) as s:
        (draft,) = s.scalars(select(Draft))
        assert draft.payload == {"summary": "第二稿", "enterprises_served": "3"}
        assert [s.scalar(select(func.count()).select_from(t)) for t in (Submission, StatusChange, OutboxMessage)] == before
        assert s.scalars(tasks_of(2023, "late-city")).one().state == "open"
    world.advance("2023-12-20T09:00")  # the engine runs on: the draft is not a submission
    with ledger(world) as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0
        assert s.scalar(select(func.count()).select_from(Draft)) == 1
    payload = world.root / "results.yaml"
    payload.write_text("enterprises_served: 3\nsummary: 已走访3家\n", encoding="utf-8")
    from yearwheel import usecases as R
    from models.forms import load_payload

    rt = world.runtime()
    try:
        R.submit_form(
            rt,
            PROGRAMME,
            2023,
            "results-submitted",
            "late-city",
            load_payload(payload),
            at=at("2023-12-21T10:00"),
            actor="t",
            source="file",
        )
    finally:
        rt.close()
    with ledger(world) as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 0


def test_no_draft_once_the_task_cannot_be_submitted(world):
    world.advance("2023-12-01T09:00")
    _save(world, "exempt-city", {"summary": "初稿"})
    coordinator(world, "exempt", "2023-12-02T10:00", "exempt-city", reason="机构调整")
    with pytest.raises(D.DraftRefused, match="不接受填报"):
        _save(world, "exempt-city", {"summary": "再稿"})
    with ledger(world) as s:  # the task's earlier draft is untouched, and shown nowhere (the page is closed)
        assert s.scalars(select(Draft.payload)).one() == {"summary": "初稿"}


def test_receipt_numbers_are_stable_and_catch_a_mistyped_digit():
    n = receipt_number(2023, 123, 2)
    assert n == receipt_number(2023, 123, 2) and n.startswith("YW-2023-000123-2-")
    assert read_receipt(n) == (2023, 123, 2) and read_receipt(n.lower()) == (2023, 123, 2)
    assert receipt_number(2023, 1_234_567, 12).startswith("YW-2023-1234567-12-")
    numbers = {receipt_number(y, t, v) for y, t, v in itertools.product((2023, 2024), range(1, 200), range(1, 4))}
    assert len(numbers) == 2 * 199 * 3  # one per submission
    digits = "0123456789"
    for y, t, v in [(2023, 123, 2), (2024, 987654, 1), (2022, 5, 11)]:
        good = receipt_number(y, t, v)
        for i, ch in enumerate(good):
            if ch in digits and i < len(good) - 1:
                for other in digits.replace(ch, ""):
                    assert read_receipt(good[:i] + other + good[i + 1 :]) is None  # any one digit wrong
                if i + 1 < len(good) - 1 and good[i + 1] in digits and good[i + 1] != ch:
                    swapped = good[:i] + good[i + 1] + ch + good[i + 2 :]
                    assert read_receipt(swapped) is None  # two neighbours swapped
    assert read_receipt("YW-2023-000123-2") is None and read_receipt("<b>") is None
