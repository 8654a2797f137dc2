"""Working days in mainland China: known dates from the State Council holiday notices
(each checked against ``chinese_calendar`` before being written down here), years
without data, year files ``cn-YYYY.yaml``, and the counting engine."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from pydantic import ValidationError

from models.timeline import ProgrammeFile, plan_year
from models.timeline.plan import apply_rest_day_rule
from models.timeline.spec import WorkdaysFile
from models.timeline.workdays import (
    PACKAGE_FIRST_YEAR,
    PACKAGE_LAST_YEAR,
    MissingWorkdayData,
    WorkdayCalendar,
    WorkdayDataInvalid,
)
from tests.timeline.builders import one_milestone_programme

D = dt.date
ONE_DAY = dt.timedelta(days=1)
CAL = WorkdayCalendar()


# --------------------------------------------------------------------------- known dates

# (date, is a working day, why) — every line checked with chinese_calendar.is_workday.
KNOWN_DAYS = [
    (D(2023, 9, 29), False, "Fri, Mid-Autumn Festival, first day of the 09-29..10-06 break"),
    (D(2023, 9, 30), False, "Sat, inside the Mid-Autumn/National Day break"),
    (D(2023, 10, 6), False, "Fri, last day of the break"),
    (D(2023, 10, 7), True, "Sat, adjusted working day (调休)"),
    (D(2023, 10, 8), True, "Sun, adjusted working day (调休)"),
    (D(2023, 4, 5), False, "Wed, Qingming"),
    (D(2023, 4, 23), True, "Sun, adjusted working day for Labour Day"),
    (D(2023, 4, 28), True, "Fri before the Labour Day break"),
    (D(2023, 4, 29), False, "Sat, Labour Day break 04-29..05-03"),
    (D(2023, 4, 30), False, "Sun, Labour Day break"),
    (D(2023, 5, 3), False, "Wed, last day of the Labour Day break"),
    (D(2023, 5, 4), True, "Thu, first working day after the break"),
    (D(2024, 2, 4), True, "Sun, adjusted working day for Spring Festival"),
    (D(2024, 2, 18), True, "Sun, adjusted working day for Spring Festival"),
    (D(2022, 10, 8), True, "Sat, adjusted working day after National Day"),
    (D(2022, 10, 9), True, "Sun, adjusted working day after National Day"),
]


@pytest.mark.parametrize(("day", "working", "why"), KNOWN_DAYS, ids=[d.isoformat() for d, _, _ in KNOWN_DAYS])
def test_known_days(day, working, why):
    assert CAL.is_workday(day) is working, why
    assert chinese_calendar.is_workday(day) is working  # the table itself is right


# (nominal, on_or_after, on_or_before)
KNOWN_SHIFTS = [
    # Saturday inside the 2023 National Day break → Saturday 10-07 (调休) / Thursday 09-28.
    (D(2023, 9, 30), D(2023, 10, 7), D(2023, 9, 28)),
    # End of April 2023 is in the Labour Day break 04-29..05-03.
    (D(2023, 4, 30), D(2023, 5, 4), D(2023, 4, 28)),
    # A working day stays put either way.
    (D(2023, 10, 8), D(2023, 10, 8), D(2023, 10, 8)),
    (D(2023, 4, 23), D(2023, 4, 23), D(2023, 4, 23)),
    # 2024 Spring Festival 02-10..02-17: Sunday 02-18 is a working day.
    (D(2024, 2, 10), D(2024, 2, 18), D(2024, 2, 9)),
]


@pytest.mark.parametrize(("nominal", "after", "before"), KNOWN_SHIFTS, ids=[n.isoformat() for n, _, _ in KNOWN_SHIFTS])
def test_known_shifts(nominal, after, before):
    assert CAL.on_or_after(nominal) == after
    assert CAL.on_or_before(nominal) == before
    assert apply_rest_day_rule(nominal, "next_workday", CAL) == after
    assert apply_rest_day_rule(nominal, "previous_workday", CAL) == before
    assert apply_rest_day_rule(nominal, "keep", CAL) == nominal


def test_end_of_april_2023_by_rest_day_rule():
    end_of_april = D(2023, 4, 30)
    assert apply_rest_day_rule(end_of_april, "next_workday", CAL) == D(2023, 5, 4)
    assert apply_rest_day_rule(end_of_april, "previous_workday", CAL) == D(2023, 4, 28)
    assert apply_rest_day_rule(end_of_april, "keep", CAL) == end_of_april


def test_unknown_rest_day_rule_is_refused():
    with pytest.raises(ValueError, match="nearest"):
        apply_rest_day_rule(D(2023, 4, 30), "nearest", CAL)


def test_package_coverage_is_2004_to_2026():
    assert (PACKAGE_FIRST_YEAR, PACKAGE_LAST_YEAR) == (2004, 2026)
    assert CAL.covers(2004) and CAL.covers(2026)
    assert not CAL.covers(2003) and not CAL.covers(2027)


def test_engine_agrees_with_the_package_on_every_day_it_covers():
    day, last = D(PACKAGE_FIRST_YEAR, 1, 1), D(PACKAGE_LAST_YEAR, 12, 31)
    disagree = []
    while day <= last:
        if CAL.is_workday(day) != chinese_calendar.is_workday(day):
            disagree.append(day)
        day += ONE_DAY
    assert disagree == []


# --------------------------------------------------------------------------- counting

# (start, end, working days d with start < d <= end) — each checked by hand and with
# chinese_calendar.get_workdays.
SPANS = [
    # Thu 09-28 → Mon 10-09 across the 2023 National Day break: 10-07, 10-08, 10-09.
    (D(2023, 9, 28), D(2023, 10, 9), 3),
    # Fri 04-28 → Thu 05-04 across the 2023 Labour Day break: only 05-04.
    (D(2023, 4, 28), D(2023, 5, 4), 1),
    # Fri 03-31 → Sun 04-23 2023: skips Qingming (04-05), ends on a 调休 Sunday.
    (D(2023, 3, 31), D(2023, 4, 23), 15),
    # Fri 2024-02-02 → Mon 02-19: 02-04 (Sun, 调休), 02-05..09, 02-18 (Sun, 调休), 02-19.
    (D(2024, 2, 2), D(2024, 2, 19), 8),
    # An ordinary week: Mon 2023-06-05 → Mon 06-12.
    (D(2023, 6, 5), D(2023, 6, 12), 5),
]


@pytest.mark.parametrize(("start", "end", "n"), SPANS, ids=[f"{s}..{e}" for s, e, _ in SPANS])
def test_count_between_and_add_agree(start, end, n):
    assert CAL.count_between(start, end) == n
    assert len(chinese_calendar.get_workdays(start + ONE_DAY, end)) == n
    # start and end are working days, so add walks exactly from one to the other.
    assert CAL.is_workday(start) and CAL.is_workday(end)
    assert CAL.add(start, n) == end
    assert CAL.add(end, -n) == start


def test_add_known_steps():
    assert CAL.add(D(2023, 9, 28), 1) == D(2023, 10, 7)  # the first working day after the break is a Saturday
    assert CAL.add(D(2023, 5, 4), -1) == D(2023, 4, 28)
    assert CAL.add(D(2023, 9, 30), 0) == D(2023, 10, 7)  # 0 on a rest day: the next working day
    assert CAL.add(D(2023, 10, 7), 0) == D(2023, 10, 7)
    assert CAL.add(D(2023, 9, 30), 1) == D(2023, 10, 7)  # from a rest day, the first working day after it
    assert CAL.add(D(2023, 9, 30), -1) == D(2023, 9, 28)


def test_count_between_empty_and_reversed_spans():
    assert CAL.count_between(D(2023, 5, 4), D(2023, 5, 4)) == 0
    assert CAL.count_between(D(2023, 5, 4), D(2023, 4, 28)) == 0
    assert CAL.count_between(D(2023, 4, 28), D(2023, 5, 3)) == 0  # only rest days after Friday


# --------------------------------------------------------------------------- years without data


def test_missing_year_raises_and_names_the_file_to_add():
    cal = WorkdayCalendar()
    with pytest.raises(MissingWorkdayData) as exc:
        cal.is_workday(D(2027, 1, 4))
    assert exc.value.year == 2027
    assert "2027" in str(exc.value)
    assert "cn-2027.yaml" in str(exc.value)
    with pytest.raises(MissingWorkdayData, match="cn-2027.yaml"):
        cal.require(2027)
    with pytest.raises(MissingWorkdayData, match="cn-2027.yaml"):
        cal.source(2027)


def test_missing_year_message_names_the_directory(tmp_path):
    cal = WorkdayCalendar.from_directory(tmp_path)  # exists, but has no year files
    with pytest.raises(MissingWorkdayData) as exc:
        cal.on_or_after(D(2027, 6, 1))
    assert f"{tmp_path}/cn-2027.yaml" in str(exc.value)


def test_missing_directory_is_no_data():
    cal = WorkdayCalendar.from_directory(None)
    assert not cal.covers(2027)
    with pytest.raises(MissingWorkdayData, match="cn-2027.yaml"):
        cal.add(D(2027, 3, 1), 1)


def test_counting_into_a_year_without_data_raises_instead_of_guessing():
    assert CAL.is_workday(D(2026, 12, 31))
    with pytest.raises(MissingWorkdayData, match="cn-2027.yaml"):
        CAL.add(D(2026, 12, 31), 1)
    with pytest.raises(MissingWorkdayData, match="cn-2003.yaml"):
        CAL.on_or_before(D(2004, 1, 1) - ONE_DAY)


def test_long_offsets_reach_the_end_of_the_data():
    # 2026 has 248 working days: from the last day of 2025, the 248th working day is the last
    # of 2026, and the 249th (the schema allows up to 250) needs the notice for 2027.
    assert len(chinese_calendar.get_workdays(D(2026, 1, 1), D(2026, 12, 31))) == 248
    assert CAL.add(D(2025, 12, 31), 248) == D(2026, 12, 31)
    with pytest.raises(MissingWorkdayData, match="cn-2027.yaml"):
        CAL.add(D(2025, 12, 31), 249)


# --------------------------------------------------------------------------- year files

# An illustration, not the real 2027 notice: 元旦 Fri 01-01..Sun 01-03, 春节 Fri 02-05..Thu 02-11,
# Sunday 02-14 an adjusted working day.
YEAR_2027 = {
    "version": 1,
    "year": 2027,
    "source": "test notice for 2027",
    "holidays": [
        {"name": "元旦", "first": D(2027, 1, 1), "last": D(2027, 1, 3)},
        {"name": "春节", "first": D(2027, 2, 5), "last": D(2027, 2, 11)},
    ],
    "adjusted_workdays": [D(2027, 2, 14)],
}

YEAR_2027_YAML = """\
version: 1
year: 2027
source: test notice for 2027
holidays:
  - {name: 元旦, first: 2027-01-01, last: 2027-01-03}
  - {name: 春节, first: 2027-02-05, last: 2027-02-11}
adjusted_workdays:
  - 2027-02-14
"""


def _check_2027(cal: WorkdayCalendar) -> None:
    assert cal.covers(2027)
    cal.require(2027)
    assert cal.source(2027) == "test notice for 2027"
    assert D(2027, 1, 1).weekday() == 4 and not cal.is_workday(D(2027, 1, 1))  # a Friday holiday
    assert D(2027, 2, 8).weekday() == 0 and not cal.is_workday(D(2027, 2, 8))  # a Monday holiday
    assert D(2027, 2, 14).weekday() == 6 and cal.is_workday(D(2027, 2, 14))  # the adjusted Sunday
    assert D(2027, 3, 6).weekday() == 5 and not cal.is_workday(D(2027, 3, 6))  # an ordinary Saturday
    assert D(2027, 3, 7).weekday() == 6 and not cal.is_workday(D(2027, 3, 7))  # an ordinary Sunday
    assert D(2027, 1, 4).weekday() == 0 and cal.is_workday(D(2027, 1, 4))  # an ordinary Monday
    assert cal.on_or_after(D(2027, 2, 5)) == D(2027, 2, 12)
    assert cal.on_or_before(D(2027, 2, 11)) == D(2027, 2, 4)
    assert cal.add(D(2027, 2, 12), 1) == D(2027, 2, 14)
    assert cal.count_between(D(2027, 2, 4), D(2027, 2, 15)) == 3  # 02-12, 02-14, 02-15
    # Counting from the package's last year into the file's year works.
    assert cal.on_or_after(D(2026, 12, 31)) == D(2026, 12, 31)
    assert cal.add(D(2026, 12, 31), 1) == D(2027, 1, 4)


def test_workdays_file_makes_2027_plannable():
    cal = WorkdayCalendar({2027: WorkdaysFile.model_validate(YEAR_2027)})
    _check_2027(cal)
    assert cal.covers(2026)  # the package still answers for the years it knows


def _programme_2027() -> ProgrammeFile:
    return one_milestone_programme(
        {"id": "spring", "due": {"rule": "fixed", "month": 2, "day": 8}}, first=2027, last=2027, id="p-2027"
    )


def test_plan_year_2027_needs_the_year_file():
    spec = _programme_2027()
    with pytest.raises(MissingWorkdayData, match="cn-2027.yaml"):
        plan_year(spec, 2027, WorkdayCalendar())
    plan = plan_year(spec, 2027, WorkdayCalendar({2027: WorkdaysFile.model_validate(YEAR_2027)}))
    (m,) = plan.milestones
    assert (m.nominal_due, m.due) == (D(2027, 2, 8), D(2027, 2, 12))


def test_from_directory_reads_year_files(tmp_path):
    (tmp_path / "cn-2027.yaml").write_text(YEAR_2027_YAML, encoding="utf-8")
    (tmp_path / "README.md").write_text("not a year file", encoding="utf-8")
    cal = WorkdayCalendar.from_directory(tmp_path)
    _check_2027(cal)


def test_year_file_overrides_the_package(tmp_path):
    # A coordinator's correction for 2023: only New Year's Day, no 调休 → Sat 2023-10-07 is a rest day.
    text = "version: 1\nyear: 2023\nsource: correction\nholidays:\n  - {name: 元旦, first: 2023-01-01, last: 2023-01-02}\n"
    (tmp_path / "cn-2023.yaml").write_text(text, encoding="utf-8")
    cal = WorkdayCalendar.from_directory(tmp_path)
    assert cal.source(2023) == "correction"
    assert not cal.is_workday(D(2023, 1, 2))
    assert not cal.is_workday(D(2023, 10, 7))
    assert cal.is_workday(D(2023, 10, 2))  # a Monday, no longer a holiday in this file
    assert cal.is_workday(D(2024, 2, 4))  # other years still come from the package


def test_wrongly_named_year_file_is_refused_when_its_year_is_needed(tmp_path):
    (tmp_path / "cn-2028.yaml").write_text(YEAR_2027_YAML, encoding="utf-8")
    cal = WorkdayCalendar.from_directory(tmp_path)  # reading the folder stops nothing
    assert cal.is_workday(D(2026, 12, 31))
    with pytest.raises(WorkdayDataInvalid) as exc:
        cal.is_workday(D(2028, 3, 1))
    assert "cn-2027.yaml" in str(exc.value.problems[0])
    assert "cn-2028.yaml" in str(exc.value.problems[0])
    assert not cal.covers(2028)


def test_invalid_year_file_stops_only_its_own_year(tmp_path):
    bad = YEAR_2027_YAML.replace("  - 2027-02-14\n", "  - 2027-02-15\n")  # a Monday
    (tmp_path / "cn-2027.yaml").write_text(bad, encoding="utf-8")
    cal = WorkdayCalendar.from_directory(tmp_path)
    assert cal.add(D(2026, 12, 1), 5) == D(2026, 12, 8)  # 2026 plans as before
    with pytest.raises(WorkdayDataInvalid, match="weekday") as exc:
        cal.require(2027)
    assert isinstance(exc.value, MissingWorkdayData)  # every caller that stops for missing data stops for this
    assert exc.value.problems[0].file.endswith("cn-2027.yaml")
    with pytest.raises(WorkdayDataInvalid):  # and again, not only the first time
        cal.is_workday(D(2027, 6, 1))


# --------------------------------------------------------------------------- WorkdaysFile validation


def _with(**changes) -> dict:
    data = dict(YEAR_2027)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # Monday 2027-02-15 is a weekday: only weekend days can become working days.
        ({"adjusted_workdays": [D(2027, 2, 15)]}, "is a weekday"),
        # A holiday reaching into another year.
        ({"holidays": [{"name": "元旦", "first": D(2026, 12, 31), "last": D(2027, 1, 2)}]}, "is not in 2027"),
        ({"holidays": [{"name": "元旦", "first": D(2027, 12, 31), "last": D(2028, 1, 1)}]}, "is not in 2027"),
        # Saturday 2027-01-02 is both a holiday and an adjusted working day.
        ({"adjusted_workdays": [D(2027, 1, 2)]}, "both as a holiday and as an adjusted working day"),
        # Saturday 2028-01-01: adjusted working day outside the year.
        ({"adjusted_workdays": [D(2028, 1, 1)]}, "is not in 2027"),
        # A holiday that ends before it starts.
        ({"holidays": [{"name": "春节", "first": D(2027, 2, 11), "last": D(2027, 2, 5)}]}, "before first"),
        # No holidays at all.
        ({"holidays": []}, "at least 1"),
    ],
    ids=["weekday-adjusted", "holiday-starts-2026", "holiday-ends-2028", "both", "adjusted-2028", "reversed", "no-holidays"],
)
def test_workdays_file_validation_errors(changes, message):
    assert D(2027, 1, 2).weekday() == 5 and D(2028, 1, 1).weekday() == 5 and D(2027, 2, 15).weekday() == 0
    with pytest.raises(ValidationError, match=message):
        WorkdaysFile.model_validate(_with(**changes))


def test_workdays_file_is_strict():
    with pytest.raises(ValidationError):
        WorkdaysFile.model_validate(_with(year="2027"))
    with pytest.raises(ValidationError):
        WorkdaysFile.model_validate(_with(unknown_key=1))


def test_day_notes_explain_surprising_days():
    from models.timeline.zhdate import iso_weekday, zh_date

    cal = WorkdayCalendar()
    assert zh_date(D(2023, 4, 23), cal) == "2023年4月23日（星期日，调休上班）"
    assert zh_date(D(2025, 1, 30), cal) == "2025年1月30日（星期四，春节假期）"
    assert zh_date(D(2023, 10, 2), cal) == "2023年10月2日（星期一，国庆节假期）"
    assert zh_date(D(2023, 12, 25), cal) == "2023年12月25日（星期一）"
    assert zh_date(D(2023, 12, 23), cal) == "2023年12月23日（星期六）"  # an ordinary weekend says so itself
    assert zh_date(D(2023, 4, 23)) == "2023年4月23日（星期日）"  # without a calendar: the weekday only
    assert iso_weekday(D(2023, 10, 7), cal) == "2023-10-07（周六，调休上班）"
    assert zh_date(D(2031, 1, 1), cal) == "2031年1月1日（星期三）"  # an undocumented year: no guess
