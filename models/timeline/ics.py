"""A year plan as an iCalendar (RFC 5545) file a coordinator can subscribe to.

One all-day event per milestone on its effective due date, with one display alarm per
reminder instant. UIDs are stable across re-exports (programme, year, milestone and, for a
participant's calendar, the participant), so a subscribing client updates events in place
instead of duplicating them. Pure: the caller passes the ``stamp`` (DTSTAMP).
"""

from __future__ import annotations

import datetime as dt

from icalendar import Alarm, Calendar, Event

from .plan import PlannedMilestone, YearPlan
from .spec import ProgrammeFile

PRODID = "-//Yearwheel//yearwheel//ZH"

_REST_DAY_WORDS = {
    "next_workday": "顺延至下一工作日",
    "previous_workday": "提前至上一工作日",
    "keep": "不调整",
}
_WEEKDAYS = "一二三四五六日"


def _day(d: dt.date) -> str:
    return f"{d.isoformat()}（周{_WEEKDAYS[d.weekday()]}）"


def _names(names: dict[str, str], ids: tuple[str, ...], limit: int = 12) -> str:
    shown = [names[i] for i in ids[:limit]]
    rest = len(ids) - len(shown)
    return "、".join(shown) + (f" 等 {len(ids)} 个单位" if rest > 0 else "")


def _description(
    plan: YearPlan, m: PlannedMilestone, names: dict[str, str], forms: dict[str, str]
) -> str:
    lines = [f"{plan.title}（{plan.year} 年度）"]
    if m.nominal_due != m.due:
        lines.append(
            f"截止：{_day(m.due)}；文件规定 {_day(m.nominal_due)} 为休息日，{_REST_DAY_WORDS[m.rest_day_rule]}"
        )
    else:
        lines.append(f"截止：{_day(m.due)}")
    if m.opens is not None:
        lines.append(f"开始：{_day(m.opens)}")
    if m.assignees:
        lines.append(f"责任单位：{_names(names, m.assignees)}")
    if m.cooperating:
        lines.append(f"配合单位：{_names(names, m.cooperating)}")
    if m.form is not None:
        lines.append(f"报送表格：{forms[m.form]}")
    if m.assumed:
        lines.append(f"注：{m.assumed}")
    return "\n".join(lines)


def plan_to_ics(
    spec: ProgrammeFile,
    plan: YearPlan,
    *,
    participant: str | None = None,
    stamp: dt.datetime,
) -> bytes:
    """The plan as iCalendar bytes; with ``participant``, only the milestones that
    participant leads or cooperates in. Raises ValueError for an unknown participant."""
    if stamp.tzinfo is None:
        raise ValueError("stamp must be timezone-aware")
    known = {p.id: p.name for p in spec.participants}
    forms = {f.id: f.title for f in spec.forms}
    if participant is not None and participant not in known:
        raise ValueError(
            f"unknown participant {participant!r} in programme {plan.programme};"
            f" known: {', '.join(sorted(known))}"
        )
    cal_name = f"{plan.title} {plan.year}"
    if participant is not None:
        cal_name += f" — {known[participant]}"

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", cal_name)
    cal.add("x-wr-timezone", "Asia/Shanghai")

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
        ev.add("dtstart", m.due)
        ev.add("dtend", m.due + dt.timedelta(days=1))
        ev.add("summary", f"截止：{m.title}")
        ev.add("description", _description(plan, m, known, forms))
        ev.add("transp", "TRANSPARENT")
        ev.add("categories", [m.kind])
        for when in m.reminders:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"提醒：{m.title}，{_day(m.due)} 截止")
            alarm.add("trigger", when.astimezone(dt.timezone.utc))
            ev.add_component(alarm)
        cal.add_component(ev)
    return cal.to_ical()
