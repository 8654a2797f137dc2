"""A programme planning on a provisional year: its tasks are compiled and opened, but no
message dated on the guess goes out — held, visible in the run's report — until the State
Council's notice is imported; then the next run sends them. A programme that has not opted
in is stopped for that year, saying what to do. Real SMTP server; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.engine.conftest import HERE, World
from tests.timeline.test_provisional import write_draft
from tests.timeline.test_workdays_import import NOTICE_2027

pytestmark = pytest.mark.slow


def demo(opted: bool) -> str:
    text = (HERE / "engine-demo.yaml").read_text(encoding="utf-8")
    text = text.replace("years: {first: 2023, last: 2024}", "years: {first: 2027, last: 2027}")
    if opted:
        text = text.replace(
            "  years: {first: 2027, last: 2027}\n", "  years: {first: 2027, last: 2027}\n  provisional_workdays: true\n"
        )
    return text.replace("id: engine-demo", "id: demo-2027", 1)


@pytest.fixture
def provisional_world(tmp_path, database_url, smtp_server):
    w = World(tmp_path, database_url, smtp_server, calendar=demo(True), programme="demo-2027")
    write_draft(w.calendar_dir / "workdays", 2027)
    yield w
    w.close()


def test_nothing_dated_on_a_guess_is_sent_until_the_notice_is_in(provisional_world, cli):
    w = provisional_world
    r = w.advance("2027-12-01T09:00")
    assert not r.failed and r.reconcile.opened == 3  # the year runs on the draft …
    assert w.smtp.messages == []  # … but its opening notices name a guessed date: held
    held = r.reconcile.as_json()["held"]
    assert held == {"demo-2027/2027/results-submitted/opened": 3}
    assert w.advance("2027-12-01T09:30").reconcile.held == held  # still held, still said, never queued
    notice = w.root / "notice.txt"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    assert cli("workdays", "import", notice, "--calendar-dir", w.calendar_dir).exit_code == 0
    r = w.advance("2027-12-01T10:00")
    assert r.reconcile.held == {} and r.reconcile.compiled == ["demo-2027/2027"]  # re-projected on the notice
    assert sorted(m["To"] for m in w.smtp.messages) == [
        "office@exempt.example.gov.cn",
        "office@late.example.gov.cn",
        "office@punctual.example.gov.cn",
    ]
    assert all("2027年12月27日" in m.get_body().get_content() for m in w.smtp.messages)  # 12-25 is a Saturday


def test_a_programme_not_opted_in_stops_for_that_year_and_says_what_to_do(tmp_path, database_url, smtp_server):
    w = World(tmp_path, database_url, smtp_server, calendar=demo(False), programme="demo-2027")
    try:
        write_draft(w.calendar_dir / "workdays", 2027)
        r = w.advance("2027-12-01T09:00")
        assert r.failed and "provisional" in r.reconcile.failures["demo-2027"]
        assert "provisional_workdays: true" in r.reconcile.failures["demo-2027"]
        assert w.smtp.messages == []
    finally:
        w.close()
