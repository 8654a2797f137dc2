"""A year plan as an iCalendar (RFC 5545) file a coordinator can subscribe to.

One all-day event per milestone on its effective due date, with one display alarm per
reminder instant. UIDs are stable across re-exports (programme, year, milestone and, for a
participant's calendar, the participant), so a subscribing client updates events in place
instead of duplicating them. Pure: the caller passes the ``stamp`` (DTSTAMP).

Dates in the texts come from :mod:`.zhdate`, the one date formatter; given the working-day
calendar (``cal``), a due date on an adjusted working weekend reads
``2023-04-23（周日，调休上班）`` rather than a bare "Sunday" a bureau would take for a mistake.

RFC 5545 points the library does not do by itself: an absolute alarm trigger is written
``TRIGGER;VALUE=DATE-TIME:…Z`` (§3.8.6.3 — TRIGGER defaults to a DURATION), and the
all-day DTSTART/DTEND carry ``VALUE=DATE`` (§3.3.4). A calendar must hold at least one
component (§3.6): a participant with nothing due in the year gets the VTIMEZONE of
Asia/Shanghai (the zone X-WR-TIMEZONE names) instead of an empty VCALENDAR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from icalendar import Alarm, Calendar, Event, Timezone, TimezoneStandard

from .plan import PlannedMilestone, YearPlan
from .spec import ProgrammeFile
from .zhdate import DayNotes, iso_weekday, zh_date

PRODID = "-//Yearwheel//yearwheel//ZH"

_REST_DAY_WORDS = {
    "next_workday": "顺延至下一工作日",
    "previous_workday": "提前至上一工作日",
    "keep": "不调整",
}


def _names(names: dict[str, str], ids: tuple[str, ...], limit: int = 12) -> str:
    shown = [names[i] for i in ids[:limit]]
    rest = len(ids) - len(shown)
    return "、".join(shown) + (f" 等 {len(ids)} 个单位" if rest > 0 else "")


def _description(
    plan: YearPlan,
    m: PlannedMilestone,
    names: dict[str, str],
    forms: dict[str, str],
    cal: DayNotes | None,
) -> str:
    lines = [f"{plan.title}（{plan.year} 年度）"]
    if m.provisional:
        lines.append("暂定：日期按推算的工作日安排计算，国务院通知公布后可能调整（本日历届时更新）")
    if m.nominal_due != m.due:
        lines.append(
            f"截止：{iso_weekday(m.due, cal)}；"
            f"文件规定 {iso_weekday(m.nominal_due, cal)} 为休息日，{_REST_DAY_WORDS[m.rest_day_rule]}"
        )
    else:
        lines.append(f"截止：{iso_weekday(m.due, cal)}")
    if m.opens is not None:
        lines.append(f"开始：{iso_weekday(m.opens, cal)}")
    if m.fan_out:
        lines.append(f"分项：{m.fan_out}")
    if m.assignees:
        lines.append(f"责任单位：{_names(names, m.assignees)}")
    if m.cooperating:
        lines.append(f"配合单位：{_names(names, m.cooperating)}")
    if m.form is not None:
        lines.append(f"报送表格：{forms[m.form]}")
    if m.assumed:
        lines.append(f"注：{m.assumed}")
    return "\n".join(lines)


def _shanghai() -> Timezone:
    """Asia/Shanghai as a VTIMEZONE: UTC+8 since daylight saving ended on 1991-09-15
    (written by hand: icalendar's ``Timezone.from_tzid`` adds a COMMENT, which RFC 5545
    does not allow directly in a VTIMEZONE)."""
    standard = TimezoneStandard()
    standard.add("dtstart", dt.datetime(1991, 9, 15, 2, 0))
    standard.add("tzoffsetfrom", dt.timedelta(hours=9))
    standard.add("tzoffsetto", dt.timedelta(hours=8))
    standard.add("tzname", "CST")
    tz = Timezone()
    tz.add("tzid", "Asia/Shanghai")
    tz.add_component(standard)
    return tz


def plan_to_ics(
    spec: ProgrammeFile,
    plan: YearPlan,
    *,
    participant: str | None = None,
    stamp: dt.datetime,
    cal: DayNotes | None = None,
    sequences: Mapping[str, int] | None = None,
) -> bytes:
    """The plan as iCalendar bytes; with ``participant``, only the milestones that
    participant leads or cooperates in. With ``cal`` (a ``WorkdayCalendar``), dates in the
    descriptions say why a surprising day is what it is (调休上班, 国庆节假期).
    ``sequences`` (milestone id → revision, from the ledger) become each event's SEQUENCE,
    so a subscribed calendar replaces an event whose date moved instead of keeping both.
    Raises ValueError for an unknown participant."""
    if stamp.tzinfo is None:
        raise ValueError("stamp must be timezone-aware")
    known = {p.id: p.name for p in spec.participants}
    forms = {f.id: f.title for f in spec.forms}
    if participant is not None and participant not in known:
        raise ValueError(f"unknown participant {participant!r} in programme {plan.programme}; known: {', '.join(sorted(known))}")
    cal_name = f"{plan.title} {plan.year}"
    if participant is not None:
        cal_name += f" — {known[participant]}"

    ical = Calendar()
    ical.add("prodid", PRODID)
    ical.add("version", "2.0")
    ical.add("calscale", "GREGORIAN")
    ical.add("method", "PUBLISH")
    ical.add("x-wr-calname", cal_name)
    ical.add("x-wr-timezone", "Asia/Shanghai")

    stamp_utc = stamp.astimezone(dt.timezone.utc)
    for m in plan.milestones:
        if participant is not None and participant not in m.assignees and participant not in m.cooperating:
            continue
        uid = f"{plan.programme}-{plan.year}-{m.id}"
        if participant is not None:
            uid += f"-{participant}"
        ev = Event()
        ev.add("uid", f"{uid}@yearwheel")
        ev.add("dtstamp", stamp_utc)
        if sequences and sequences.get(m.id):
            ev.add("sequence", sequences[m.id])
        ev.add("dtstart", m.due, parameters={"VALUE": "DATE"})
        ev.add("dtend", m.due + dt.timedelta(days=1), parameters={"VALUE": "DATE"})
        ev.add("summary", f"截止{'（暂定）' if m.provisional else ''}：{m.title}")
        ev.add("description", _description(plan, m, known, forms, cal))
        ev.add("transp", "TRANSPARENT")
        ev.add("categories", [m.kind])
        for when in m.reminders:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"提醒：{m.title}，{zh_date(m.due, cal)}截止")
            # An absolute trigger must say so: TRIGGER's default value type is DURATION.
            alarm.add("trigger", when.astimezone(dt.timezone.utc), parameters={"VALUE": "DATE-TIME"})
            ev.add_component(alarm)
        ical.add_component(ev)
    if not ical.subcomponents:
        ical.add_component(_shanghai())
    return ical.to_ical()
