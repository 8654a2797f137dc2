"""The State Council's yearly holiday notice read into a working-day year
(models.timeline.notice): every real notice of 2015–2026 (``notices/``, sources in
``notices/SOURCES.md``) gives exactly the days the chinese-calendar package holds for its
year, and a notice that contradicts itself is refused at the line that does."""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import pytest

from models.timeline import WorkdayCalendar, load_workdays_file
from models.timeline.notice import NoticeInvalid, read_notice, year_file_text

NOTICES = Path(__file__).parent / "notices"
YEARS = sorted(int(p.stem) for p in NOTICES.glob("*.txt"))
D = dt.date


def text(year: int) -> str:
    return (NOTICES / f"{year}.txt").read_text(encoding="utf-8")


# Days the package holds that the yearly notice cannot: later notices changed them.
LATER_NOTICES = {
    # 中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日: 9月3日至5日放假调休, 9月6日上班
    2015: {D(2015, 9, 3), D(2015, 9, 4), D(2015, 9, 6)},
    # 国办发明电〔2019〕3号: 劳动节 5月1日至4日放假调休, 4月28日、5月5日上班
    2019: {D(2019, 4, 28), D(2019, 5, 2), D(2019, 5, 3), D(2019, 5, 5)},
    # 国办发明电〔2020〕1号: 春节假期延长至2月2日 (1月31日 off; Saturday 2月1日 no longer worked)
    2020: {D(2020, 1, 31), D(2020, 2, 1)},
}


def test_the_fixtures_cover_2015_to_2026():
    assert YEARS == list(range(2015, 2027))


@pytest.mark.parametrize("year", YEARS)
def test_each_real_notice_gives_exactly_the_days_of_its_year(year):
    """Every weekday off and every weekend day worked, nothing more: the notice's own days,
    plus those the next year's notice sets in this one (a New Year break from December)."""
    ours = set(read_notice(text(year)).flips(year))
    if year + 1 in YEARS:
        ours |= set(read_notice(text(year + 1)).flips(year))
    package = set(WorkdayCalendar().exceptions(year))
    assert ours ^ package == LATER_NOTICES.get(year, set())


@pytest.mark.parametrize("year", YEARS)
def test_the_written_year_file_loads_and_says_the_same(year, tmp_path):
    notice = read_notice(text(year))
    path = tmp_path / f"cn-{year}.yaml"
    path.write_text(year_file_text(notice), encoding="utf-8")
    spec = load_workdays_file(path)
    assert spec.year == year and spec.source.startswith(f"国务院办公厅关于{year}年部分节假日安排的通知")
    assert WorkdayCalendar.from_directory(tmp_path).exceptions(year) == notice.flips(year)


def test_the_source_names_title_number_and_date():
    assert read_notice(text(2024)).source == "国务院办公厅关于2024年部分节假日安排的通知（国办发明电〔2023〕7号，2023年10月25日）"
    n2015 = read_notice(text(2015))  # this copy has no title: the year comes from its first sentence, and it says so
    assert n2015.year == 2015 and n2015.notes and "没有标题" in n2015.notes[0]


def test_wording_of_the_notices():
    """Items naming two festivals, 补休, a New Year break from the December before (its days
    kept apart from the year's own), advice that moves no day."""
    n2017 = read_notice(text(2017))
    assert [b.name for b in n2017.breaks][-1] == "中秋节、国庆节"
    assert (n2017.breaks[0].first, n2017.breaks[0].last) == (D(2017, 1, 1), D(2017, 1, 2))  # 1月1日放假，1月2日补休
    n2019 = read_notice(text(2019))
    assert n2019.spill() == ([D(2018, 12, 30), D(2018, 12, 31)], [D(2018, 12, 29)])
    breaks, work = n2019.in_year()
    assert breaks[0].first == D(2019, 1, 1) and all(d.year == 2019 for d in work)
    assert "年" not in year_file_text(n2019).split("holidays:")[1].split("\n")[1]  # no 2018 date in the 2019 file
    n2024 = read_notice(text(2024))
    assert n2024.skipped and "除夕" in n2024.skipped[0]
    assert D(2024, 2, 9) not in n2024.rest_days()  # "鼓励……在除夕（2月9日）休息" is advice


def test_full_width_half_width_and_layout_do_not_matter():
    reference = read_notice(text(2024))
    variants = [
        unicodedata.normalize("NFKC", text(2024)),  # half-width punctuation
        text(2024).translate({ord(c): 0xFEE0 + ord(c) for c in "0123456789"}),  # full-width digits
        text(2024).replace("星期", "周"),
        "\r\n".join("　　" + line for line in text(2024).splitlines()),  # Windows line ends, indented
        "".join(text(2024).splitlines()),  # a copy that lost every line break
    ]
    for variant in variants:
        got = read_notice(variant)
        assert (got.year, got.rest_days(), got.workdays) == (reference.year, reference.rest_days(), reference.workdays)


def line_no(body: str, needle: str) -> int:
    return next(i for i, line in enumerate(body.splitlines(), start=1) if needle in line)


def refused(body: str) -> list:
    with pytest.raises(NoticeInvalid) as exc:
        read_notice(body)
    return exc.value.problems


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        ("共8天", "共7天", "二、春节", "写明“共7天”，但列出的放假日期是 8 天"),
        ("2月18日（星期日）上班", "2月19日（星期一）上班", "二、春节", "本来就是工作日"),
        ("4月7日（星期日）上班", "4月7日（星期一）上班", "三、清明节", "4月7日是星期日，通知写的是“星期一”"),
        ("4月4日至6日放假调休", "2025年4月4日至6日放假调休", "三、清明节", "不在2024年"),
        ("2月10日至17日放假", "2月17日至10日放假", "二、春节", "早于开始日"),
        ("2月4日（星期日）、", "2月11日（星期日）、", "二、春节", "在春节假期之中，却又写着上班"),
        ("五、端午节：6月10日放假，与周末连休。", "五、端午节：6月10日放假，6月12日（星期三）补休。", "五、端午节", "假期不连续"),
        ("五、端午节：", "五、春节：", "五、春节", "春节已在第"),
        ("五、端午节：", "五、植树节：", "五、植树节", "不认识的节日“植树节”"),
        ("六、中秋节：9月15日至17日", "六、中秋节：10月6日至8日", "七、国庆节", "同时在中秋节"),
        ("9月14日（星期六）上班", "9月14日（星期六）值班", "六、中秋节", "既不是放假、补休，也不是上班"),
    ],
)
def test_a_notice_that_contradicts_itself_is_refused_at_its_line(old, new, where, says):
    body = text(2024)
    assert old in body
    changed = body.replace(old, new, 1)
    problems = refused(changed)
    hit = [p for p in problems if says in p.message]
    assert hit, [p.message for p in problems]
    assert hit[0].line == line_no(changed, where) and where in hit[0].sentence
    assert str(hit[0]).startswith(f"第{hit[0].line}行：")


def test_the_newer_wording_is_checked_too():
    """2025 writes （周三） after both ends of a range, with the lunar day: checked the same."""
    body = text(2025)
    assert "1月28日（农历除夕、周二）" in body
    problems = refused(body.replace("1月28日（农历除夕、周二）", "1月28日（农历除夕、周一）", 1))
    assert "1月28日是星期二" in problems[0].message


def test_text_that_is_not_a_notice_is_refused():
    assert "找不到通知标题" in refused("关于召开年度总结会的通知\n请各单位于12月25日前报送。")[0].message
    assert "没有找到任何节日安排" in refused("国务院办公厅关于2027年部分节假日安排的通知\n经国务院批准，另行通知。")[0].message


def test_a_copy_without_line_breaks_reads_and_points_at_the_item():
    flat = "".join(text(2024).splitlines())
    assert read_notice(flat).source == read_notice(text(2024)).source  # the signature's date found at the end
    (problem,) = refused(flat.replace("共8天", "共7天"))
    assert problem.line == 1 and problem.sentence.startswith("二、春节") and "共7天" in problem.message
