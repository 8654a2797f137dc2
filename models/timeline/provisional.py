"""A provisional working-day year: what the State Council will most likely announce, drafted
from the rules in force since 2025 before its notice is out.

The statutory days are certain (《全国年节及纪念日放假办法》 as revised in November 2024):
元旦 1月1日; 春节 农历除夕 to 正月初三 (4 days); 清明节 the 清明 solar term; 劳动节 5月1日
and 2日; 端午节 农历五月初五; 中秋节 农历八月十五; 国庆节 10月1日 to 3日. How they are
stretched into breaks and which weekend days are worked instead is a guess, following the
principles the 2025 notice states: 春节 8 days from 除夕, 国庆节 7 days from October 1st
(8 with 中秋节 when they meet), 劳动节 5 days (joined to the weekend that needs the fewest
days worked), the others 3 days joined to a weekend (only the day itself when it is a
Wednesday), the days given up worked on the nearest weekend days, before and after. Every guess is listed in the file, and the file is marked
``provisional: true``: a programme plans on it only if its calendar opts in, every date
that depends on it is marked 暂定, and nothing dated on it is sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from chinese_calendar import get_solar_terms

from .zhdate import weekday, zh_date_short

ONE = dt.timedelta(days=1)
RULES_SINCE = 2025  # the revised holiday measures apply from 2025


@dataclass(frozen=True)
class DraftBreak:
    name: str
    first: dt.date
    last: dt.date
    workdays: tuple[dt.date, ...]
    guess: str  # what was guessed, in Chinese

    def days(self) -> list[dt.date]:
        return [self.first + n * ONE for n in range((self.last - self.first).days + 1)]


def _zh(d: dt.date) -> str:
    """``5月1日（周四）``: the year is the draft's own."""
    return f"{zh_date_short(d)}（{weekday(d, long=False)}）"


def _lunar(year: int, month: int, day: int) -> dt.date:
    from lunardate import LunarDate

    solar: dt.date = LunarDate(year, month, day).to_solar_date()
    return solar


def _qingming(year: int) -> dt.date:
    return next(d for d, name in get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 10)) if name == "清明")


def _make_up(first: dt.date, last: dt.date, count: int, taken: set[dt.date]) -> tuple[dt.date, ...]:
    """``count`` weekend days nearest the break, alternating before and after it."""
    before = [d for d in (first - n * ONE for n in range(1, 15)) if d.weekday() >= 5 and d not in taken]
    after = [d for d in (last + n * ONE for n in range(1, 15)) if d.weekday() >= 5 and d not in taken]
    out: list[dt.date] = []
    while len(out) < count:
        out.append((before if len(out) % 2 == 0 else after).pop(0))
    return tuple(sorted(out))


def _long(name: str, first: dt.date, length: int, statutory: int, taken: set[dt.date], why: str) -> DraftBreak:
    last = first + (length - 1) * ONE
    weekend = sum(1 for n in range(length) if (first + n * ONE).weekday() >= 5)
    work = _make_up(first, last, max(length - statutory - weekend, 0), taken)
    guess = f"{name}：{why}，推定{_zh(first)}至{_zh(last)}放假{length}天" + (
        f"，{'、'.join(_zh(d) for d in work)}上班" if work else "，不调休"
    )
    return DraftBreak(name, first, last, work, guess)


def _short(name: str, day: dt.date, taken: set[dt.date]) -> DraftBreak:
    """元旦, 清明, 端午, 中秋: three days joined to a weekend; a Wednesday stays one day."""
    wd = day.weekday()
    if wd == 2:
        return DraftBreak(name, day, day, (), f"{name}：{_zh(day)}逢周三，推定只放当日1天，不调休")
    first, work = {
        0: (day - 2 * ONE, ()),  # Monday: Saturday to Monday
        1: (day - 2 * ONE, (day - 3 * ONE,)),  # Tuesday: Sunday to Tuesday, the Saturday before worked
        3: (day, (day + 3 * ONE,)),  # Thursday: Thursday to Saturday, the Sunday after worked
        4: (day, ()),  # Friday: Friday to Sunday
        5: (day, ()),  # Saturday: Saturday to Monday
        6: (day - ONE, ()),  # Sunday: Saturday to Monday
    }[wd]
    last = first + 2 * ONE
    work = tuple(d for d in work if d not in taken)
    guess = f"{name}：{_zh(day)}，推定{_zh(first)}至{_zh(last)}放假3天" + (
        f"，{'、'.join(_zh(d) for d in work)}上班" if work else "，不调休"
    )
    return DraftBreak(name, first, last, work, guess)


def _labour_start(year: int) -> dt.date:
    """Five days holding May 1st and 2nd, joined to the weekend that needs the fewest days
    worked instead; of equals, the latest (2023: 4月29日 to 5月3日; 2025, 2026: from 5月1日)."""

    def make_up(first: dt.date) -> int:
        return 5 - 2 - sum(1 for n in range(5) if (first + n * ONE).weekday() >= 5)

    starts = [dt.date(year, 5, 1) - n * ONE for n in range(4)]  # April 28th to May 1st
    return min(starts, key=lambda d: (make_up(d), -d.toordinal()))


def draft_breaks(year: int) -> list[DraftBreak]:
    """The breaks of ``year`` as the rules since 2025 would most likely set them (some may
    reach into the neighbouring years: New Year's Day on a Tuesday starts on December 30th)."""
    if year < RULES_SINCE:
        raise ValueError(f"the rules drafted here apply from {RULES_SINCE}; {year} has its notice")
    taken: set[dt.date] = set()
    out: list[DraftBreak] = []

    def add(b: DraftBreak) -> None:
        out.append(b)
        taken.update(b.days())

    eve = _lunar(year, 1, 1) - ONE
    add(_short("元旦", dt.date(year, 1, 1), taken))
    add(_long("春节", eve, 8, 4, taken, f"农历除夕为{_zh(eve)}，自除夕起放假调休8天"))
    add(_short("清明节", _qingming(year), taken))
    add(_long("劳动节", _labour_start(year), 5, 2, taken, "5月1日、2日为法定假日，放假调休5天"))
    add(_short("端午节", _lunar(year, 5, 5), taken))
    mid = _lunar(year, 8, 15)
    if dt.date(year, 9, 29) <= mid <= dt.date(year, 10, 8):
        start = min(mid, dt.date(year, 10, 1))
        add(_long("国庆节、中秋节", start, 8, 4, taken, f"中秋节为{_zh(mid)}，与国庆节合并放假8天"))
    else:
        add(_short("中秋节", mid, taken))
        add(_long("国庆节", dt.date(year, 10, 1), 7, 3, taken, "10月1日至3日为法定假日，自10月1日起放假调休7天"))
    # a make-up day may have been placed before a later break claimed it: keep the days apart
    rest = set(taken)
    return [DraftBreak(b.name, b.first, b.last, tuple(d for d in b.workdays if d not in rest), b.guess) for b in out]


def provisional_year_text(year: int) -> str:
    """``calendar/workdays/cn-YYYY.yaml`` for a year not announced yet, ``provisional: true``,
    with every guess listed; New Year's days of the neighbouring years that fall in it kept."""
    own = draft_breaks(year)
    nxt = draft_breaks(year + 1)[0]  # next New Year may start in this December
    breaks: list[tuple[str, dt.date, dt.date]] = []
    work: list[dt.date] = []
    guesses = [b.guess for b in own]
    for b in own + [nxt]:
        days = [d for d in b.days() if d.year == year]
        if days:
            breaks.append((b.name, days[0], days[-1]))
        work += [d for d in b.workdays if d.year == year]
        if any(d.year != year for d in b.days() + list(b.workdays)) and b is not nxt:
            guesses.append(f"{b.name}的推定假期跨入{year - 1}年，{year - 1}年的日期不在本文件中")
    if nxt.first.year == year:
        guesses.append(f"{year + 1}年元旦的推定假期自{year}年{_zh(nxt.first)}开始，已列入本文件")

    def q(text: str) -> str:
        import json

        return json.dumps(text, ensure_ascii=False)

    lines = [
        f"# {year}年工作日安排（暂定）：由 yearwheel workdays provisional 按2025年起的放假规则推算，未经国务院公布。",
        "# 国务院办公厅通知发布后，运行 yearwheel workdays import 通知.txt 以正式安排替换本文件。",
        "version: 1",
        f"year: {year}",
        f"source: {q(f'暂定：按2024年11月修订的《全国年节及纪念日放假办法》和2025年起的放假调休原则推算的{year}年安排（国务院尚未公布）')}",
        "provisional: true",
        "guesses:",
        *(f"  - {q(g)}" for g in guesses),
        "holidays:",
        *(
            f"  - {{name: {q(n)}, first: {a.isoformat()}, last: {b.isoformat()}}}"
            for n, a, b in sorted(breaks, key=lambda x: x[1])
        ),
        "adjusted_workdays:" + ("" if work else " []"),
        *(f"  - {d.isoformat()}  # {weekday(d, long=False)}" for d in sorted(set(work))),
    ]
    return "\n".join(lines) + "\n"
