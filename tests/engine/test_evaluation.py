"""The annual evaluation and the monthly bulletin of a small programme whose five cities
behave as a coordinator sees them do: one punctual, one late, one returned and then
accepted, one exempted from the year-end report, one that never delivers. Every score
below was computed by hand from the events of this file (the working days counted in
the comments), then compared with what ``evaluate`` and ``bulletin`` compute from the
ledger. Real SQLite and PostgreSQL ledgers; the Word files are read back with python-docx
and rendered by LibreOffice."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from models.evaluation import ParticipantScore, _rank
from tests.engine.conftest import PROGRAMME, World, at, contacts_yaml, submit
from tests.web.test_excel_print import office  # noqa: F401 — LibreOffice with a profile of its own
from yearwheel import evaluations as E
from yearwheel import usecases as R

CALENDAR = """\
version: 1
programme:
  id: engine-demo
  title: 考评测试计划
  issuer: 测试厅
  years: {first: 2023, last: 2024}
  defaults: {reminder_policy: standard}
roles:
  - {id: coordinator, title: 省厅质量发展处联络人, holder: province}
participants:
  - {id: province, name: 测试省市场监管厅, kind: province}
  - {id: punctual-city, name: 准时市局, kind: city}
  - {id: late-city, name: 迟交市局, kind: city}
  - {id: returned-city, name: 退回市局, kind: city}
  - {id: exempt-city, name: 免报市局, kind: city}
  - {id: missing-city, name: 未报市局, kind: city}
groups:
  - id: cities
    name: 各市
    members: [punctual-city, late-city, returned-city, exempt-city, missing-city]
forms:
  - id: plan
    title: 年度计划
    fields:
      - {id: note, label: 说明, type: text, required: false}
  - id: results
    title: 年度提升成效表
    fields:
      - {id: enterprises_served, label: 服务企业数, type: integer, min: 0}
reminder_policies:
  - id: standard
    before_due: [1]
workstreams:
  - id: main
    title: 主线
    lead: [province]
    milestones:
      - id: plan
        title: 报送年度计划
        kind: submission
        assignees: [cities]
        due: {rule: fixed, month: 11, day: 10}
        form: plan
        source: {clause: 测试}
      - id: results-submitted
        title: 提交年度提升成效表
        kind: submission
        assignees: [cities]
        due: {rule: fixed, month: 12, day: 25}
        form: results
        source: {clause: 测试}
targets:
  - id: enterprises
    title: 服务企业
    measure: count
    at_least: 10
    period: yearly
    counted_from: {form: results, field: enterprises_served}
    source: {clause: 测试}
scorecard:
  cohorts:
    - {id: cities, title: 各市局, members: [cities]}
  indicators:
    - {id: on-time, measure: on_time_rate, weight: 40}
    - {id: first-time, measure: first_time_acceptance, weight: 20}
    - {id: lateness, measure: days_late_mean, weight: 10, zero_at: 10}
    - {id: missing, measure: missing, weight: 10, zero_at: 2}
    - {id: served, measure: target_contribution, target: enterprises, weight: 10}
    - {id: rating, title: 协调人评价, measure: rating, weight: 10}
  source: {clause: 测试, assumed: 权重为测试所设}
bulletin:
  to: [coordinator]
  late_months_running: 2
"""

CONTACTS_EXTRA = "".join(f"  {c}:\n    email: [office@{c}.example.gov.cn]\n" for c in ("returned-city", "missing-city"))


@pytest.fixture
def year(tmp_path, database_url, smtp_server):
    """The year as it happened (see the module's docstring)."""
    w = World(
        tmp_path, database_url, smtp_server, calendar=CALENDAR, contacts=contacts_yaml(smtp_server.port, extra=CONTACTS_EXTRA)
    )
    act = lambda kind, when, who, milestone, reason="ok": _act(w, kind, when, who, milestone, reason)  # noqa: E731
    w.advance("2023-11-01T09:00")
    submit(w, "2023-11-08T10:00", "punctual-city", {}, milestone="plan")
    submit(w, "2023-11-09T10:00", "returned-city", {}, milestone="plan")
    submit(w, "2023-11-09T11:00", "exempt-city", {}, milestone="plan")
    w.advance("2023-11-13T09:00")
    act("return", "2023-11-13T10:00", "returned-city", "plan", "缺少盖章页")
    submit(w, "2023-11-14T10:00", "late-city", {}, milestone="plan")  # 2 working days late (13th, 14th)
    submit(w, "2023-11-15T10:00", "returned-city", {}, milestone="plan")  # v2, 3 working days late
    act("accept", "2023-11-16T10:00", "returned-city", "plan")
    act("accept", "2023-11-16T10:05", "punctual-city", "plan")
    w.advance("2023-12-01T09:00")
    act("exempt", "2023-12-04T10:00", "exempt-city", "results-submitted", "本年度免报")
    submit(w, "2023-12-20T10:00", "punctual-city", {"enterprises_served": 4})
    submit(w, "2023-12-22T10:00", "returned-city", {"enterprises_served": 3})
    w.advance("2023-12-26T09:00")
    submit(w, "2023-12-28T10:00", "late-city", {"enterprises_served": 2})  # 3 working days late (26th–28th)
    for who in ("punctual-city", "late-city", "returned-city"):
        act("accept", "2023-12-29T10:00", who, "results-submitted")
    rt = w.runtime()
    E.rate(
        rt, PROGRAMME, 2023, "punctual-city", "rating", 90, "材料规范，响应及时", actor="coordinator", at=at("2024-01-03T10:00")
    )
    w.advance("2024-01-05T09:00")
    yield w
    w.close()


def _act(w: World, kind: str, when: str, who: str, milestone: str, reason: str) -> None:
    rt = w.runtime()
    R.coordinator_action(rt, kind, PROGRAMME, 2023, milestone, who, actor="coordinator", reason=reason, at=at(when))


EVALUATED_AT = "2024-01-05T12:00"

# Working days late of the city that never delivers, to Friday 2024-01-05: the plan (due
# Friday 2023-11-10) 14 in November + 21 in December + 4 in January (the 1st is a holiday)
# = 39; the report (due Monday 2023-12-25) 4 + 4 = 8; mean 23.5.
EXPECTED = {
    # id: (total, rank, {indicator: score or None})
    # on time 2/2; first time 2/2; no lateness; nothing missing; 4 ÷ (10 ÷ 5) capped; rated 90
    "punctual-city": (99.0, 1, {"on-time": 100, "first-time": 100, "lateness": 100, "missing": 100, "served": 100, "rating": 90}),
    # the plan on time, the report exempted (not counted): 1/1; nothing decided; no report → 0 served
    # (40·100 + 10·100 + 10·100 + 10·0) ÷ 70
    "exempt-city": (85.71, 2, {"on-time": 100, "first-time": None, "lateness": 100, "missing": 100, "served": 0, "rating": None}),
    # the plan's standing version 3 days late, the report on time: 1/2; first time 1/2 (the plan was
    # returned); mean lateness 3 → 70; 3 ÷ 2 capped; (40·50 + 20·50 + 10·70 + 10·100 + 10·100) ÷ 90
    "returned-city": (63.33, 3, {"on-time": 50, "first-time": 50, "lateness": 70, "missing": 100, "served": 100, "rating": None}),
    # both late (2 and 3 days): 0/2; the report accepted, the plan undecided: 1/1; mean 2.5 → 75;
    # 2 ÷ 2 = 100; (0 + 20·100 + 10·75 + 10·100 + 10·100) ÷ 90
    "late-city": (52.78, 4, {"on-time": 0, "first-time": 100, "lateness": 75, "missing": 100, "served": 100, "rating": None}),
    # nothing: 0/2; mean lateness 23.5 ≥ 10 → 0; 2 missing ≥ 2 → 0; nothing served
    "missing-city": (0.0, 5, {"on-time": 0, "first-time": None, "lateness": 0, "missing": 0, "served": 0, "rating": None}),
}


def test_scores_and_ranks_equal_the_hand_computed_ones(year):
    e = E.evaluate(year.runtime(), PROGRAMME, 2023, at(EVALUATED_AT))
    (cohort,) = e.cohorts
    assert [r.participant for r in cohort.rows] == list(EXPECTED)
    for r in cohort.rows:
        total, rank, scores = EXPECTED[r.participant]
        assert (r.total, r.rank, r.tied) == (total, rank, False), r.participant
        assert {s.indicator: s.score for s in r.scores} == scores, r.participant
    missing = e.participant("missing-city")
    assert missing is not None
    lateness = next(s for s in missing.scores if s.indicator == "lateness")
    assert (lateness.value, lateness.numerator, lateness.denominator) == (23.5, 47, 2)


def test_every_score_names_the_ledger_rows_it_came_from(year):
    from sqlalchemy import select

    from models.tables import Rating, Task

    rt = year.runtime()
    e = E.evaluate(rt, PROGRAMME, 2023, at(EVALUATED_AT))
    with rt.sessions() as s:
        tasks = {(t.participant, t.id): t for t in s.scalars(select(Task))}
        rating = s.scalars(select(Rating)).one()
    late = e.participant("late-city")
    on_time = next(x for x in late.scores if x.indicator == "on-time")
    rows = [tasks[("late-city", ev["task_id"])] for ev in on_time.evidence]  # each a task of that city
    assert sorted(t.due.isoformat() for t in rows) == ["2023-11-10", "2023-12-25"]
    assert "按时报送 0 项 ÷ 应报 2 项" in on_time.explanation
    punctual = e.participant("punctual-city")
    rated = next(x for x in punctual.scores if x.indicator == "rating")
    assert rated.evidence == [{"rating_id": rating.id, "score": 90, "comment": "材料规范，响应及时", "rated_by": "coordinator"}]
    exempt = e.participant("exempt-city")
    assert all(
        ev.get("task_id") != t.id
        for x in exempt.scores
        for ev in x.evidence
        for (p, _), t in tasks.items()
        if p == "exempt-city" and t.state == "exempted"
    )
    assert "不计入总分" in next(x for x in exempt.scores if x.indicator == "first-time").explanation


def test_a_later_rating_replaces_the_earlier_and_bad_ratings_are_refused(year):
    rt = year.runtime()
    E.rate(rt, PROGRAMME, 2023, "punctual-city", "rating", 70, "复核后调整", actor="coordinator", at=at("2024-01-04T10:00"))
    e = E.evaluate(rt, PROGRAMME, 2023, at(EVALUATED_AT))
    assert next(x for x in e.participant("punctual-city").scores if x.indicator == "rating").score == 70
    for bad, why in (
        (dict(indicator="on-time", score=50), "not a rating indicator"),
        (dict(indicator="rating", score=101), "0–100"),
        (dict(indicator="rating", score=-1), "0–100"),
        (dict(indicator="rating", score=True), "0–100"),
        (dict(indicator="rating", score=50, participant="province"), "in none of its cohorts"),
        (dict(indicator="rating", score=50, comment="  "), "评分说明"),
    ):
        args = {"participant": "late-city", "comment": "说明", **bad}
        with pytest.raises(ValueError, match=why):
            E.rate(
                rt,
                PROGRAMME,
                2023,
                args["participant"],
                args["indicator"],
                args["score"],
                args["comment"],
                actor="c",
                at=at("2024-01-04T10:00"),
            )


def test_equal_totals_share_a_rank_and_the_next_is_skipped():
    rows = [ParticipantScore(p, p, "c", t) for p, t in (("a", 80.0), ("b", 90.004), ("c", 90.0), ("d", None), ("e", 70.0))]
    _rank(rows)
    assert [(r.participant, r.rank, r.tied) for r in rows] == [
        ("b", 1, True),
        ("c", 1, True),
        ("a", 3, False),
        ("e", 4, False),
        ("d", None, False),
    ]
    assert rows[0].rank_text == "并列第1名" and rows[2].rank_text == "第3名" and "不参与排名" in rows[-1].rank_text


def test_the_december_bulletin_counts_what_fell_due_as_of_the_month_end(year):
    b = E.bulletin(year.runtime(), PROGRAMME, 2023, 12, at("2024-01-02T09:00"))
    # due in December: the report of four cities (one exempted): punctual and returned on time,
    # late-city's came on the 28th, missing-city's never; the plan of missing-city is carried over
    assert (b.due, b.count("on_time"), b.count("late"), b.count("missing")) == (4, 2, 1, 1)
    assert [(i.participant, i.milestone) for i in b.carried] == [("missing-city", "plan")]
    assert b.running == [("late-city", "迟交市局"), ("missing-city", "未报市局")]  # late in November and December
    assert "共有4项报送事项到期，按时报送2项，逾期报送1项，截至12月31日仍未报送1项" in b.prose()[0]
    # the November bulletin, asked for in January, is as of November 30th: late-city's plan was late,
    # returned-city's standing version came late, missing-city's is missing
    nov = E.bulletin(year.runtime(), PROGRAMME, 2023, 11, at("2024-01-02T09:00"))
    assert {i.participant: i.standing for i in nov.items} == {
        "punctual-city": "on_time",
        "returned-city": "late",
        "exempt-city": "on_time",
        "late-city": "late",
        "missing-city": "missing",
    }


def test_the_word_documents_show_the_rows_and_the_named_units(year, tmp_path):
    from docx import Document

    from yearwheel.cli import build_app

    runner = CliRunner()
    env = {"YEARWHEEL_DATABASE_URL": year.database_url}
    common = ["--calendar-dir", str(year.calendar_dir), "--at", "2024-01-02T09:00+08:00"]
    app = build_app()
    out = tmp_path / "bulletin.docx"
    r = runner.invoke(app, ["bulletin", PROGRAMME, "--year", "2023", "--month", "12", "-o", str(out), *common], env=env)
    assert r.exit_code == 0, r.output
    doc = Document(str(out))
    (late_table, targets) = doc.tables
    rows = [[c.text for c in row.cells] for row in late_table.rows]
    assert rows[0] == ["序号", "单位", "事项", "截止日期", "情况"]
    assert [(r[1], r[2], r[4]) for r in rows[1:]] == [
        ("迟交市局", "提交年度提升成效表", "逾期3个工作日报送"),
        ("未报市局", "提交年度提升成效表", "未报送（已逾期4个工作日）"),  # Dec 26–29
        ("未报市局", "报送年度计划", "未报送（已逾期35个工作日）"),  # 14 in Nov + 21 in Dec
    ]
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "连续2个月存在逾期或未报送事项的单位：迟交市局、未报市局" in text
    assert doc.sections[0].page_width.mm == pytest.approx(210, abs=0.5)
    assert {"公文标题", "一级标题", "公文正文", "表格文字"} <= {s.name for s in doc.styles}
    assert [c.text for c in targets.rows[1].cells][:1] == ["服务企业"]

    ev = tmp_path / "evaluation.docx"
    r = runner.invoke(app, ["evaluate", PROGRAMME, "--year", "2023", "-o", str(ev), *common], env=env)
    assert r.exit_code == 0, r.output
    table = Document(str(ev)).tables[0]
    assert [row.cells[1].text for row in table.rows[1:]] == ["准时市局", "免报市局", "退回市局", "迟交市局", "未报市局"]
    r = runner.invoke(app, ["evaluate", PROGRAMME, "--year", "2023", "--json", *common], env=env)
    data = json.loads(r.stdout)
    assert [x["rank_text"] for x in data["cohorts"][0]["ranking"]] == ["第1名", "第2名", "第3名", "第4名", "第5名"]
    xlsx = tmp_path / "evaluation.xlsx"
    assert runner.invoke(app, ["evaluate", PROGRAMME, "--year", "2023", "-o", str(xlsx), *common], env=env).exit_code == 0
    from openpyxl import load_workbook

    ws = load_workbook(xlsx)["各市局"]
    assert [ws.cell(r, 2).value for r in range(3, 8)] == ["准时市局", "免报市局", "退回市局", "迟交市局", "未报市局"]
    assert ws.cell(3, ws.max_column).value == 100  # as of January 2nd: the rating of the 3rd does not count yet
    bad = runner.invoke(app, ["evaluate", PROGRAMME, "--year", "2023", "-o", str(tmp_path / "x.pdf"), *common], env=env)
    assert bad.exit_code == 1 and "use one of .docx, .xlsx, .html" in bad.output


@pytest.mark.slow
def test_the_bulletin_renders_in_chinese_with_libreoffice(year, tmp_path, office):  # noqa: F811 — the fixture
    from tests.web.test_excel_print import TOOLS, screenshot
    from yearwheel.reports.documents import write_bulletin_docx, write_evaluation_docx

    b = E.bulletin(year.runtime(), PROGRAMME, 2023, 12, at("2024-01-02T09:00"))
    e = E.evaluate(year.runtime(), PROGRAMME, 2023, at(EVALUATED_AT))
    write_bulletin_docx(b, tmp_path / "bulletin.docx")
    write_evaluation_docx(e, tmp_path / "evaluation.docx")
    done = office.convert([tmp_path / "bulletin.docx", tmp_path / "evaluation.docx"], tmp_path / "pdf")
    bulletin, evaluation = done[tmp_path / "bulletin.docx"], done[tmp_path / "evaluation.docx"]
    flat = "".join(bulletin.pages).replace(" ", "")
    assert "考评测试计划工作月度通报" in flat and "迟交市局" in flat and "—1—" in flat
    assert "准时市局" in "".join(evaluation.pages).replace(" ", "")
    info = subprocess.run(["pdfinfo", str(bulletin.pdf)], capture_output=True, text=True, check=False).stdout
    assert "595" in info and "841" in info  # A4 in points
    screenshot(bulletin, 1, "bulletin-docx-page1")
    screenshot(evaluation, 1, "evaluation-docx-page1")
    assert TOOLS["pdftoppm"]


def test_the_monthly_bulletin_goes_once_on_the_first_working_day_of_the_month(year, tmp_path, monkeypatch):
    monkeypatch.setenv("YEARWHEEL_REPORT_DIR", str(tmp_path / "out"))
    rt = year.runtime()
    # October 2023 began with the National Day break; its first working day was Saturday the 7th (调休)
    assert E.first_workday_of_month(rt, at("2023-10-03T09:00").date()).isoformat() == "2023-10-07"
    coordinator = "coordinator@province.example.gov.cn"

    def bulletins() -> list:
        return [m for m in year.smtp.messages if m["To"] == coordinator and "月度通报" in str(m["Subject"])]

    (holiday,) = E.monthly_bulletins(year.runtime(), at("2024-01-01T09:00"))  # New Year's Day: not the day
    assert holiday.written is None and "2024-01-02" in holiday.reason and bulletins() == []
    (run,) = E.monthly_bulletins(year.runtime(), at("2024-01-02T09:00"))
    assert (run.year, run.month, run.queued) == (2023, 12, 1) and run.written is not None and run.written.exists()
    (mail,) = bulletins()
    assert "考评测试计划工作月度通报（2023年第12期）" in str(mail["Subject"])
    assert "· 未报市局“报送年度计划”（截止11月10日）：未报送" in mail.get_content()
    for when in ("2024-01-02T09:00", "2024-01-02T15:00"):
        (again,) = E.monthly_bulletins(year.runtime(), at(when), force=True)
        assert again.queued == 0  # written again, sent no more
    assert len(bulletins()) == 1


def test_the_evaluation_is_as_of_its_instant(year):
    """Asked as of December 27th: late-city's report (delivered on the 28th) is missing then,
    and the rating entered in January does not count yet."""
    e = E.evaluate(year.runtime(), PROGRAMME, 2023, at("2023-12-27T12:00"))
    late = e.participant("late-city")
    on_time = next(x for x in late.scores if x.indicator == "on-time")
    missing = next(x for x in late.scores if x.indicator == "missing")
    assert (on_time.numerator, on_time.denominator, missing.value) == (0, 2, 1.0)
    rating = next(x for x in e.participant("punctual-city").scores if x.indicator == "rating")
    assert rating.score is None


def test_a_version_returned_by_the_cut_off_no_longer_stands_in_the_bulletin(year):
    # November as of the 14th at noon: returned-city's version of the 9th was returned on the 13th
    b = E.bulletin(year.runtime(), PROGRAMME, 2023, 11, at("2023-11-14T12:00"))
    standing = {i.participant: i.standing for i in b.items}
    assert standing["returned-city"] == "missing" and standing["punctual-city"] == "on_time"
    assert standing["late-city"] == "late"  # delivered at 10:00, before the noon cut-off
    assert standing["missing-city"] == "missing"


def test_a_rating_with_control_characters_is_refused(year):
    with pytest.raises(ValueError, match="控制字符"):
        E.rate(
            year.runtime(),
            PROGRAMME,
            2023,
            "late-city",
            "rating",
            60,
            "从Word粘贴\x0b的说明",
            actor="c",
            at=at("2024-01-04T10:00"),
        )


def test_a_missed_first_working_day_is_made_up_the_next_day(year, tmp_path, monkeypatch):
    monkeypatch.setenv("YEARWHEEL_REPORT_DIR", str(tmp_path / "out"))
    (run,) = E.monthly_bulletins(year.runtime(), at("2024-01-03T09:00"))  # the run of the 2nd failed
    assert run.queued == 1
    (again,) = E.monthly_bulletins(year.runtime(), at("2024-01-04T09:00"))
    assert again.queued == 0


def test_a_bulletin_to_a_group_reaches_each_member(tmp_path, database_url, smtp_server, monkeypatch):
    monkeypatch.setenv("YEARWHEEL_REPORT_DIR", str(tmp_path / "out"))
    calendar = CALENDAR.replace("bulletin:\n  to: [coordinator]", "bulletin:\n  to: [coordinator, cities, province]")
    w = World(
        tmp_path, database_url, smtp_server, calendar=calendar, contacts=contacts_yaml(smtp_server.port, extra=CONTACTS_EXTRA)
    )
    try:
        w.advance("2023-11-01T09:00")
        (run,) = E.monthly_bulletins(w.runtime(), at("2023-12-01T09:00"))
        assert (run.year, run.month, run.queued) == (2023, 11, 6)  # the coordinator (province, once) and five cities
        got = sorted(str(m["To"]) for m in smtp_server.messages if "月度通报" in str(m["Subject"]))
        assert got == sorted(
            ["coordinator@province.example.gov.cn"]
            + [f"office@{c}.example.gov.cn" for c in ("punctual", "late", "exempt")]
            + [f"office@{c}.example.gov.cn" for c in ("returned-city", "missing-city")]
        )
    finally:
        w.close()
