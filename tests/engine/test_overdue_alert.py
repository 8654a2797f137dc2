"""The calendar's ``overdue_alert``: a programme year's overdue count reaching the threshold
is told once, on the run that marks the task crossing it — again only after the count fell
below and rises to it anew; never for a count that only stays above, nor below it. (The
Automation that carries it to the coordinator is tested against Prefect in
``tests/flows/test_automations.py``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from models import activity as A
from tests.engine.conftest import PROGRAMME, World, at, submit
from yearwheel import usecases as R

DEMO = (Path(__file__).parent / "engine-demo.yaml").read_text(encoding="utf-8")
SECOND = """      - id: results-reviewed
        title: 提交成效复核表
        kind: submission
        assignees: [cities]
        opens: {rule: start_of_month, month: 12}
        due: {rule: fixed, month: 12, day: 20}
        form: results
        source: {clause: 测试}
"""


def calendar(threshold: int | None, to: str = "[coordinator]") -> str:
    """The demo, its results due December 8th, a second submission due December 20th."""
    text = DEMO.replace("due: {rule: fixed, month: 12, day: 25}", "due: {rule: fixed, month: 12, day: 8}")
    text = text.replace("        source: {clause: 测试}\ntargets:", f"        source: {{clause: 测试}}\n{SECOND}targets:")
    if threshold is not None:
        text += f"overdue_alert:\n  threshold: {threshold}\n  to: {to}\n"
    return text


class Told:
    """The facts the ledger hands on after each commit, as a Prefect relay would get them."""

    def __init__(self) -> None:
        self.facts: list[A.Fact] = []

    def add(self, facts: list[A.Fact]) -> None:
        self.facts.extend(facts)

    def alerts(self) -> list[A.Fact]:
        return [f for f in self.facts if f.subject == "programme-year"]


def advance(w: World, when: str, told: Told) -> R.AdvanceResult:
    rt = w.runtime()
    A.install(rt.sessions, told.add)
    try:
        return R.advance(rt, at(when))
    finally:
        rt.close()


@pytest.mark.parametrize("threshold", [1, 3])
def test_the_crossing_is_told_once_and_again_after_the_count_fell_below(tmp_path, database_url, smtp_server, threshold):
    w = World(tmp_path, database_url, smtp_server, calendar=calendar(threshold))
    told = Told()
    try:
        assert advance(w, "2023-12-08T09:00", told).reconcile.alerts == {}  # due today: nobody is late yet
        r = advance(w, "2023-12-11T09:00", told)  # the three cities' results are late: 0 → 3
        assert r.reconcile.overdue == 3 and r.reconcile.alerts == {f"{PROGRAMME}/2023": 3}
        (alert,) = told.alerts()
        assert alert.what == A.OVERDUE_THRESHOLD
        assert alert.details | {"programme_year_id": 0} == {
            "programme": PROGRAMME,
            "year": 2023,
            "programme_year_id": 0,
            "overdue": 3,
            "newly_overdue": 3,
            "threshold": threshold,
            "to": ["province"],
        }
        assert advance(w, "2023-12-12T09:00", told).reconcile.alerts == {}  # still 3: told already
        submit(w, "2023-12-13T10:00", "late-city", {"enterprises_served": 4, "summary": "迟交"})  # 3 → 2
        submit(w, "2023-12-13T11:00", "punctual-city", {"enterprises_served": 4, "summary": "迟交"})  # 2 → 1
        r = advance(w, "2023-12-21T09:00", told)  # the second milestone's three are late: 1 → 4
        assert r.reconcile.overdue == 3
        if threshold == 1:  # 1 stayed at the threshold: no fall below it, no new crossing
            assert r.reconcile.alerts == {} and len(told.alerts()) == 1
        else:  # 1 < 3 ≤ 4: crossed anew
            assert r.reconcile.alerts == {f"{PROGRAMME}/2023": 4}
            assert [f.details["overdue"] for f in told.alerts()] == [3, 4]
            assert told.alerts()[-1].details["newly_overdue"] == 3
        assert advance(w, "2023-12-22T09:00", told).reconcile.alerts == {}
    finally:
        w.close()


def test_a_threshold_never_reached_and_a_calendar_without_one_tell_nothing(tmp_path, database_url, smtp_server):
    for sub, threshold in (("high", 7), ("none", None)):
        root = tmp_path / sub
        root.mkdir()
        w = World(root, f"sqlite:///{root / 'ledger.db'}", smtp_server, calendar=calendar(threshold))
        told = Told()
        try:
            from models.migrate import upgrade

            upgrade(w.database_url)
            for when in ("2023-12-11T09:00", "2023-12-21T09:00", "2023-12-29T09:00"):
                assert advance(w, when, told).reconcile.alerts == {}
            assert told.alerts() == [] and any(f.what == "overdue" for f in told.facts)  # six overdue, below 7
        finally:
            w.close()


def test_a_rolled_back_run_tells_no_alert(tmp_path, database_url, smtp_server):
    """The alert is a fact of the transaction that marked the tasks: gone with it."""
    w = World(tmp_path, database_url, smtp_server, calendar=calendar(2))
    told = Told()
    rt = w.runtime()
    A.install(rt.sessions, told.add)
    try:
        from models import reconcile as RC

        with pytest.raises(RuntimeError):
            with rt.sessions.begin() as s:
                report = RC.reconcile(s, rt.programme(PROGRAMME), rt.cal, rt.messenger, at("2023-12-11T09:00"))
                assert report.alerts == {f"{PROGRAMME}/2023": 3}
                raise RuntimeError("the run fails before it commits")
        assert told.facts == []
        r = R.advance(rt, at("2023-12-11T09:00"), send=False)  # the next run marks them, and tells
        assert r.reconcile.alerts == {f"{PROGRAMME}/2023": 3} and len(told.alerts()) == 1
    finally:
        rt.close()
        w.close()


@pytest.mark.parametrize("simulated", [False, True])
def test_the_event_says_which_ledger_and_the_shipped_automations_hang_only_on_production(tmp_path, smtp_server, simulated):
    """A simulated year (real programme id, real years) must never reach a coordinator."""
    from flows.automations import shipped
    from yearwheel.events import LEDGER_LABEL, EventRelay

    w = World(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}", smtp_server, calendar=calendar(3))
    emitted: list[dict] = []
    try:
        from models.migrate import upgrade

        upgrade(w.database_url)
        rt = w.runtime()
        rt.events = EventRelay(rt.sessions, lambda: rt.programmes, lambda **ev: emitted.append(ev), simulated=simulated)
        A.install(rt.sessions, rt.events.add)
        R.advance(rt, at("2023-12-11T09:00"))
        rt.events.flush()
    finally:
        w.close()
    (alert,) = [e for e in emitted if e["event"] == "yearwheel.programme-year.overdue-threshold"]
    assert alert["resource"]["prefect.resource.id"] == f"yearwheel.programme-year.{PROGRAMME}.2023"
    assert {e["resource"][LEDGER_LABEL] for e in emitted} == {"simulation" if simulated else "production"}
    for a in shipped():
        if any(name.startswith("yearwheel.") for name in a.trigger["expect"]):
            assert a.trigger["match"][LEDGER_LABEL] == "production", a.name
