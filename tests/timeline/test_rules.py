"""Property-based tests of the pure date rules in ``models.timeline.plan`` and of the
working-day engine, over dates in 2005–2025.

Where a property needs to know whether a day is a working day, it asks an oracle read
once from the ``chinese_calendar`` package (``is_workday`` below), not the engine under
test, so a property is a check against an independent source, not a tautology."""

from __future__ import annotations

import calendar as stdcal
import datetime as dt

import chinese_calendar
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from models.timeline import TZ, ProgrammeFile, plan_year
from models.timeline.plan import (
    PlanInconsistent,
    apply_rest_day_rule,
    calendar_span,
)
from models.timeline.chase import pre_due_days, shift_workdays
from models.timeline.spec import (
    EndOfMonth,
    FixedDay,
    MidMonth,
    StartOfMonth,
    Window,
    WorkingDaysAfter,
    WorkingDaysBefore,
)
from models.timeline.workdays import WorkdayCalendar
from tests.timeline.builders import one_milestone_programme

CAL = WorkdayCalendar()
ONE_DAY = dt.timedelta(days=1)
D = dt.date

FIRST, LAST = D(2005, 1, 1), D(2025, 12, 31)


def _all_days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


# The oracle, read once from chinese_calendar for every year it covers (2004–2026), so that
# counting far back or forward from a date in 2005–2025 stays inside known data.
_ORACLE_FIRST, _ORACLE_LAST = D(2004, 1, 1), D(2026, 12, 31)
_WORKING = frozenset(d for d in _all_days(_ORACLE_FIRST, _ORACLE_LAST) if chinese_calendar.is_workday(d))

dates = st.dates(min_value=FIRST, max_value=LAST)
working_dates = st.sampled_from([d for d in _all_days(FIRST, LAST) if d in _WORKING])
rest_dates = st.sampled_from([d for d in _all_days(FIRST, LAST) if d not in _WORKING])
months = st.integers(1, 12)
years = st.integers(2005, 2025)
rules = st.sampled_from(["next_workday", "previous_workday", "keep"])

SETTINGS = settings(max_examples=200, deadline=None)


def is_workday(day: dt.date) -> bool:
    """The oracle: chinese_calendar's answer (refusing days it has no data for)."""
    assert _ORACLE_FIRST <= day <= _ORACLE_LAST, f"{day} is outside the oracle's data"
    return day in _WORKING


def days_between(a: dt.date, b: dt.date):
    """Days strictly between a and b (a < b)."""
    d = a + ONE_DAY
    while d < b:
        yield d
        d += ONE_DAY


def workdays_in(a: dt.date, b: dt.date) -> int:
    """Working days d with a <= d < b, by the oracle."""
    n, d = 0, a
    while d < b:
        n += is_workday(d)
        d += ONE_DAY
    return n


def nth_workday_back(due: dt.date, n: int) -> dt.date:
    """By the oracle, the reminder day for ``before_due: n`` as plan.py's docstring defines
    it: the n-th working day before ``due``; for 0, ``due`` itself or, when ``due`` is a rest
    day (kept), the working day before it."""
    d = due
    if n == 0:
        while not is_workday(d):
            d -= ONE_DAY
        return d
    while n:
        d -= ONE_DAY
        n -= is_workday(d)
    return d


def last_day(year: int, month: int) -> dt.date:
    """The month's last day, computed without calendar.monthrange."""
    first_of_next = D(year + 1, 1, 1) if month == 12 else D(year, month + 1, 1)
    return first_of_next - ONE_DAY


# --------------------------------------------------------------------------- rest-day rules


@SETTINGS
@given(dates)
def test_next_workday(nominal):
    due = apply_rest_day_rule(nominal, "next_workday", CAL)
    assert due >= nominal
    assert is_workday(due)
    assert all(not is_workday(d) for d in days_between(nominal, due))
    if due != nominal:
        assert not is_workday(nominal)
    assert due == CAL.on_or_after(nominal)


@SETTINGS
@given(dates)
def test_previous_workday(nominal):
    due = apply_rest_day_rule(nominal, "previous_workday", CAL)
    assert due <= nominal
    assert is_workday(due)
    assert all(not is_workday(d) for d in days_between(due, nominal))
    if due != nominal:
        assert not is_workday(nominal)
    assert due == CAL.on_or_before(nominal)


@SETTINGS
@given(dates)
def test_keep_is_identity(nominal):
    assert apply_rest_day_rule(nominal, "keep", CAL) == nominal


@SETTINGS
@given(working_dates, rules)
def test_every_rule_keeps_a_working_day(day, rule):
    assert apply_rest_day_rule(day, rule, CAL) == day


@SETTINGS
@given(rest_dates)
def test_a_rest_day_moves_both_ways(day):
    after = apply_rest_day_rule(day, "next_workday", CAL)
    before = apply_rest_day_rule(day, "previous_workday", CAL)
    assert before < day < after
    # The longest run of rest days in 2005–2025 is 10 (2020-01-24..02-02, the extended Spring
    # Festival), so the working days either side are at most 11 days apart.
    assert (after - before).days <= 11


@SETTINGS
@given(dates)
def test_is_workday_agrees_with_the_package(day):
    assert CAL.is_workday(day) == is_workday(day)


# --------------------------------------------------------------------------- add / count_between

# Up to 240 working days: 2026, the last year with data, has 248, so counting from any day of
# 2005–2025 stays inside known years (beyond them the engine rightly raises MissingWorkdayData).
offsets = st.integers(1, 240)


@SETTINGS
@given(dates, offsets)
def test_add_forwards(day, n):
    result = CAL.add(day, n)
    assert result > day
    assert is_workday(result)
    assert CAL.count_between(day, result) == n
    # the n-th working day after ``day``: n working days in (day, result], none fewer would do
    assert workdays_in(day + ONE_DAY, result + ONE_DAY) == n


@SETTINGS
@given(dates, offsets)
def test_add_backwards(day, n):
    result = CAL.add(day, -n)
    assert result < day
    assert is_workday(result)
    # n working days in [result, day): the mirror image of (day, result] above
    assert workdays_in(result, day) == n
    assert CAL.count_between(result - ONE_DAY, day - ONE_DAY) == n


@SETTINGS
@given(dates)
def test_add_zero_is_on_or_after(day):
    assert CAL.add(day, 0) == CAL.on_or_after(day)


@SETTINGS
@given(working_dates, offsets, st.sampled_from([1, -1]))
def test_add_round_trip_from_a_working_day(day, days, direction):
    n = direction * days
    assert CAL.add(CAL.add(day, n), -n) == day


@SETTINGS
@given(dates, st.integers(0, 365))
def test_count_between_matches_the_oracle(start, length):
    end = start + dt.timedelta(days=length)  # may reach into 2026, which both sources cover
    assert CAL.count_between(start, end) == workdays_in(start + ONE_DAY, end + ONE_DAY)
    assert CAL.count_between(end, start) == 0


@SETTINGS
@given(dates, dates, dates)
def test_count_between_is_additive(a, b, c):
    a, b, c = sorted((a, b, c))
    assert CAL.count_between(a, b) + CAL.count_between(b, c) == CAL.count_between(a, c)


# --------------------------------------------------------------------------- shift_workdays


@SETTINGS
@given(dates)
def test_shift_zero_is_the_nearest_working_day_in_direction(base):
    assert shift_workdays(base, 0, 1, CAL) == CAL.on_or_after(base)
    assert shift_workdays(base, 0, -1, CAL) == CAL.on_or_before(base)


@SETTINGS
@given(dates, offsets, st.sampled_from([1, -1]))
def test_shift_is_add(base, days, direction):
    assert shift_workdays(base, days, direction, CAL) == CAL.add(base, direction * days)


@SETTINGS
@given(dates, st.integers(0, 240), st.sampled_from([1, -1]))
def test_shift_always_lands_on_a_working_day(base, days, direction):
    result = shift_workdays(base, days, direction, CAL)
    assert is_workday(result)
    assert (result >= base) if direction > 0 else (result <= base)


# --------------------------------------------------------------------------- calendar_span


@SETTINGS
@given(years, months)
def test_end_of_month_span(year, month):
    rule = EndOfMonth.model_validate({"rule": "end_of_month", "month": month})
    first, last = calendar_span(rule, year)
    assert first == last == last_day(year, month)
    assert (last + ONE_DAY).day == 1


@SETTINGS
@given(years, months)
def test_start_of_month_span(year, month):
    rule = StartOfMonth.model_validate({"rule": "start_of_month", "month": month})
    assert calendar_span(rule, year) == (D(year, month, 1), D(year, month, 1))


@SETTINGS
@given(years, months)
def test_mid_month_span(year, month):
    rule = MidMonth.model_validate({"rule": "mid_month", "month": month})
    assert calendar_span(rule, year) == (D(year, month, 11), D(year, month, 20))


@SETTINGS
@given(years, months, months)
def test_window_span(year, a, b):
    lo, hi = min(a, b), max(a, b)
    rule = Window.model_validate({"rule": "window", "from_month": lo, "to_month": hi})
    start, end = calendar_span(rule, year)
    assert start <= end
    assert start == D(year, lo, 1)
    assert end == last_day(year, hi)
    assert start.year == end.year == year


@SETTINGS
@given(dates)
def test_fixed_day_span(day):
    rule = FixedDay.model_validate({"rule": "fixed", "month": day.month, "day": day.day})
    assert calendar_span(rule, day.year) == (day, day)


# --------------------------------------------------------------------------- pre-due reminder days

before_due_lists = st.lists(st.integers(0, 120), max_size=6)


@SETTINGS
@given(dates, before_due_lists)
def test_pre_due_days(due, before_due):
    opened = dt.date(due.year - 2, 1, 1)  # long before: nothing is dropped for the opening
    days, on_opening = pre_due_days(due, before_due, opened, CAL)
    just_days = [d for d, _ in days]
    assert just_days == sorted(set(just_days))
    assert on_opening == ()
    assert all(is_workday(d) for d in just_days)
    assert all(d <= CAL.on_or_before(due) for d in just_days)
    # every value is accounted for exactly once: merged values are said, never lost
    covered = [n for _, ns in days for n in ns]
    assert sorted(covered) == sorted(set(before_due))
    for d, ns in days:
        assert ns == tuple(sorted(ns))  # the value nearest the due date first
        assert all(nth_workday_back(due, n) == d for n in ns)
    if is_workday(due):
        assert all(len(ns) == 1 for _, ns in days)  # distinct values, distinct days
        if 0 in before_due:
            assert just_days[-1] == due
    for n in before_due:
        if n:
            assert workdays_in(nth_workday_back(due, n), due) == n


@SETTINGS
@given(rest_dates)
def test_reminders_on_the_same_working_day_merge_and_say_so(due):
    # 0 → the last working day before a kept rest-day due date; so does 1: one reminder standing for both
    days, _ = pre_due_days(due, [0, 1], dt.date(due.year - 1, 1, 1), CAL)
    assert days == [(CAL.on_or_before(due), (0, 1))]


@SETTINGS
@given(dates, before_due_lists)
def test_reminders_on_or_before_the_opening_day_are_not_separate(due, before_due):
    opened = CAL.add(due, -5)
    days, on_opening = pre_due_days(due, before_due, opened, CAL)
    assert all(d > opened for d, _ in days)
    assert all(nth_workday_back(due, n) == opened for n in on_opening)


# --------------------------------------------------------------------------- plan_year end to end

PROGRAMME_YEARS = (2022, 2024)


@st.composite
def day_in_month(draw, month: int) -> int:
    # a day that exists in every programme year (no Feb 29: 2022 and 2023 are common years)
    return draw(st.integers(1, stdcal.monthrange(2023, month)[1]))


@st.composite
def programmes(draw) -> tuple[ProgrammeFile, dict[str, str | None]]:
    """A valid programme calendar (one that checks.py would accept) with one milestone of
    each kind of date rule; returns the spec and each milestone's rest_day_rule override."""
    rule_or_default = st.one_of(st.none(), rules)
    overrides: dict[str, str | None] = {}

    def milestone(mid: str, due: dict, opens: dict | None = None, **extra) -> dict:
        overrides[mid] = draw(rule_or_default)
        m = {"id": mid, "title": mid, "kind": "meeting", "due": due, "source": {"clause": "一"}, **extra}
        if opens is not None:
            m["opens"] = opens
        if overrides[mid] is not None:
            m["rest_day_rule"] = overrides[mid]
        return m

    fixed_month = draw(months)
    fixed = {"rule": "fixed", "month": fixed_month, "day": draw(day_in_month(fixed_month))}
    fixed_opens = None
    if fixed_month > 1 and draw(st.booleans()):
        fixed_opens = {"rule": "start_of_month", "month": draw(st.integers(1, fixed_month - 1))}

    eom_month = draw(months)
    eom = {"rule": "end_of_month", "month": eom_month}

    mid_month = draw(months)
    mid = {"rule": "mid_month", "month": mid_month}
    mid_opens = {"rule": "mid_month", "month": draw(st.integers(1, mid_month))} if draw(st.booleans()) else None

    w_from = draw(months)
    window = {"rule": "window", "from_month": w_from, "to_month": draw(st.integers(w_from, 12))}

    # relative rules: count from one of the calendar milestones, from its due date or (for
    # one that has one) its opening date
    has_opens = ["m-window"] + (["m-fixed"] if fixed_opens else []) + (["m-mid"] if mid_opens else [])
    after_base = draw(st.sampled_from(["m-fixed", "m-eom", "m-mid", "m-window"]))
    after_of = draw(st.sampled_from(["due", "opens"])) if after_base in has_opens else "due"
    after_days = draw(st.integers(0, 60))
    after = {"rule": "working_days_after", "milestone": after_base, "days": after_days, "of": after_of}
    after_opens = None
    if draw(st.booleans()):
        after_opens = {
            "rule": "working_days_after",
            "milestone": after_base,
            "of": after_of,
            "days": draw(st.integers(0, after_days)),
        }

    before_base = draw(st.sampled_from(["m-fixed", "m-eom", "m-mid", "m-window", "m-after"]))
    before_days = draw(st.integers(0, 60))
    before = {"rule": "working_days_before", "milestone": before_base, "days": before_days}
    before_opens = None
    if draw(st.booleans()):
        before_opens = {"rule": "working_days_before", "milestone": before_base, "days": before_days + draw(st.integers(0, 30))}

    in_force = draw(st.one_of(st.none(), st.dates(D(2022, 1, 1), D(2022, 12, 31))))
    programme = {
        "id": "prop-test",
        "title": "性质测试",
        "issuer": "测试局",
        "years": {"first": PROGRAMME_YEARS[0], "last": PROGRAMME_YEARS[1]},
        "defaults": {"rest_day_rule": draw(rules), "reminder_policy": "std"},
    }
    if in_force is not None:
        programme["in_force_from"] = in_force
    data = {
        "version": 1,
        "programme": programme,
        "participants": [
            {"id": "city-a", "name": "甲市", "kind": "city"},
            {"id": "city-b", "name": "乙市", "kind": "city"},
        ],
        "groups": [{"id": "cities", "name": "各市", "members": ["city-a", "city-b"]}],
        "forms": [{"id": "report", "title": "报告", "fields": [{"id": "summary", "label": "总结", "type": "text"}]}],
        "reminder_policies": [
            {
                "id": "std",
                "send_at": draw(st.sampled_from(["09:00", "00:00", "08:30", "17:45", "23:59"])),
                "before_due": [5, 1, 0],
            }
        ],
        "workstreams": [
            {
                "id": "ws",
                "title": "工作",
                "lead": ["cities"],
                "milestones": [
                    milestone("m-fixed", fixed, fixed_opens),
                    milestone("m-eom", eom, kind="submission", form="report"),
                    milestone("m-mid", mid, mid_opens),
                    milestone("m-window", window, kind="window"),
                    milestone("m-after", after, after_opens),
                    milestone("m-before", before, before_opens),
                ],
            }
        ],
    }
    return ProgrammeFile.model_validate(data), overrides


def oracle_shift(base: dt.date, days: int, direction: int) -> dt.date:
    """By the oracle: ``days`` working days after (+1) or before (-1) ``base``; for 0, ``base``
    when it is a working day, else the nearest working day in ``direction``."""
    step = ONE_DAY * direction
    d = base
    if days == 0:
        while not is_workday(d):
            d += step
        return d
    while days:
        d += step
        days -= is_workday(d)
    return d


def oracle_rest_day_rule(day: dt.date, rule: str) -> dt.date:
    return day if rule == "keep" else oracle_shift(day, 0, 1 if rule == "next_workday" else -1)


def oracle_dates(spec: ProgrammeFile, year: int) -> dict[str, tuple[dt.date, dt.date, dt.date | None]]:
    """(nominal_due, due, opens) of every milestone, from the definitions in plan.py's
    docstring and the oracle alone: nothing opens before the programme is in force, and
    ``of: opens`` counts from that effective opening."""
    default = spec.programme.defaults.rest_day_rule
    in_force = spec.programme.in_force_from
    out: dict[str, tuple[dt.date, dt.date, dt.date | None]] = {}

    def span(rule) -> tuple[dt.date, dt.date]:
        """(first, last) day a rule names: its opening day and its due day."""
        if isinstance(rule, FixedDay):
            return D(year, rule.month, rule.day), D(year, rule.month, rule.day)
        if isinstance(rule, StartOfMonth):
            return D(year, rule.month, 1), D(year, rule.month, 1)
        if isinstance(rule, MidMonth):
            return D(year, rule.month, 11), D(year, rule.month, 20)
        if isinstance(rule, Window):
            return D(year, rule.from_month, 1), last_day(year, rule.to_month)
        if isinstance(rule, EndOfMonth):
            return last_day(year, rule.month), last_day(year, rule.month)
        day = relative(rule)
        return day, day

    def relative(rule) -> dt.date:
        _, base_due, base_opens = get(rule.milestone)
        base = base_due if rule.of == "due" else base_opens
        assert base is not None
        return oracle_shift(base, rule.days, 1 if rule.rule == "working_days_after" else -1)

    def get(mid: str) -> tuple[dt.date, dt.date, dt.date | None]:
        if mid not in out:
            m = spec.milestone(mid)
            nominal = span(m.due)[1]
            due = oracle_rest_day_rule(nominal, m.rest_day_rule or default)
            if m.opens is not None:
                opens = span(m.opens)[0]
            elif isinstance(m.due, Window):
                opens = span(m.due)[0]
            else:  # the implicit opening: 20 working days before the effective due date
                opens = oracle_shift(due, 20, -1)
            if opens is not None and in_force is not None:
                opens = max(opens, in_force)
            out[mid] = (nominal, due, opens)
        return out[mid]

    for _, m in spec.milestones():
        get(m.id)
    return out


@settings(max_examples=120, deadline=None)
@given(programmes(), st.integers(*PROGRAMME_YEARS))
def test_plan_year_properties(spec_and_overrides, year):
    spec, overrides = spec_and_overrides
    try:
        plan = plan_year(spec, year, CAL)
    except PlanInconsistent:
        # the generator avoids openings after due dates; should one slip through, it is
        # test_opening_after_the_due_date_is_refused's business, not this test's
        event("PlanInconsistent")
        assume(False)
        raise  # unreachable
    prog = spec.programme
    in_force = prog.in_force_from
    policy = spec.reminder_policies[0]
    planned = {m.id: m for m in plan.milestones}
    oracle = oracle_dates(spec, year)
    skipped = {mid for mid, _ in plan.not_held}

    # every milestone is either planned or reported as not held (only before the programme's start)
    assert planned.keys() | skipped == {m.id for _, m in spec.milestones()}
    assert not planned.keys() & skipped
    if in_force is None:
        assert not skipped
    event(f"{len(skipped)} not held")
    for mid in skipped:  # not held: due before the programme came into force
        assert oracle[mid][1] < in_force
    assert [m.due for m in plan.milestones] == sorted(m.due for m in plan.milestones)

    for m in plan.milestones:
        # the rest-day rule: the milestone's own, else the programme default
        assert m.rest_day_rule == (overrides[m.id] or prog.defaults.rest_day_rule)
        if isinstance(spec.milestone(m.id).due, (WorkingDaysAfter, WorkingDaysBefore)):
            # a relative date counts working days from an effective date: it is a working day
            assert is_workday(m.nominal_due)
        assert (m.nominal_due, m.due, m.opens) == oracle[m.id]
        if m.rest_day_rule == "next_workday":
            assert m.due >= m.nominal_due and is_workday(m.due)
            assert all(not is_workday(d) for d in days_between(m.nominal_due, m.due))
        elif m.rest_day_rule == "previous_workday":
            assert m.due <= m.nominal_due and is_workday(m.due)
            assert all(not is_workday(d) for d in days_between(m.due, m.nominal_due))
        else:
            assert m.due == m.nominal_due
        if is_workday(m.nominal_due):
            assert m.due == m.nominal_due

        if m.opens is not None:
            assert m.opens <= m.due
            if in_force is not None:
                assert m.opens >= in_force
        if in_force is not None:
            assert m.due >= in_force
        rule = spec.milestone(m.id).due
        if isinstance(rule, Window):  # opens on the window's first day, or when the programme starts
            start = D(year, rule.from_month, 1)
            assert m.opens == (max(start, in_force) if in_force is not None else start)

        assert m.assignees == ("city-a", "city-b")
        assert m.cooperating == ()

        # reminders: aware, +08:00, at send_at, sorted, unique, on working days, within [opens, due]
        rs = m.reminders
        assert list(rs) == sorted(set(rs))
        for r in rs:
            assert r.tzinfo is not None
            assert r.utcoffset() == dt.timedelta(hours=8)
            assert r.isoformat().endswith("+08:00")
            assert r.timetz().replace(tzinfo=None) == policy.send_time
            assert is_workday(r.date())
            assert r.date() <= m.due
            if m.opens is not None:
                assert r.date() >= m.opens
            if in_force is not None:
                assert r.date() >= in_force
        # exactly the policy's steps (from the module docstring of plan.py): the opening notice on the
        # first working day from opens; for each N, the N-th working day before due (0: due, or the
        # working day before a kept rest day), one reminder per day, none on or before the opening day
        opened = oracle_shift(m.opens, 0, 1)
        assert m.notice == (dt.datetime.combine(opened, policy.send_time, TZ) if opened <= m.due else None)
        expected = sorted(
            {
                dt.datetime.combine(day, policy.send_time, TZ)
                for day in (nth_workday_back(m.due, n) for n in policy.before_due)
                if day > opened
            }
        )
        assert list(rs) == expected
        if m.opens <= oracle_shift(m.due, 6, -1) and is_workday(m.due):
            assert len(rs) == 3


calendar_rules = st.one_of(
    st.builds(lambda m: {"rule": "start_of_month", "month": m}, months),
    st.builds(lambda m: {"rule": "end_of_month", "month": m}, months),
    st.builds(lambda m: {"rule": "mid_month", "month": m}, months),
    months.flatmap(lambda m: day_in_month(m).map(lambda d: {"rule": "fixed", "month": m, "day": d})),
)


@settings(max_examples=200, deadline=None)
@given(calendar_rules, calendar_rules, rules, st.integers(*PROGRAMME_YEARS))
def test_opening_after_the_due_date_is_refused(opens_rule, due_rule, rest_rule, year):
    spec = one_milestone_programme({"id": "m", "opens": opens_rule, "due": due_rule, "rest_day_rule": rest_rule})
    _, due, opens = oracle_dates(spec, year)["m"]
    assert opens is not None
    event("refused" if opens > due else "planned")
    if opens > due:
        with pytest.raises(PlanInconsistent) as exc:
            plan_year(spec, year, CAL)
        assert exc.value.year == year
        assert [(i.milestone, i.field) for i in exc.value.issues] == [("m", "opens")]
        assert str(opens) in str(exc.value) and str(due) in str(exc.value)
    else:
        (m,) = plan_year(spec, year, CAL).milestones
        assert (m.opens, m.due) == (opens, due)
        assert m.reminders == ()  # no policy, no reminders
