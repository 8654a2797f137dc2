"""`yearwheel ics`: the year plan as a subscribable RFC 5545 calendar, read back with icalendar."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar

from models.timeline.loader import load_programme_file
from models.timeline.plan import plan_year
from models.timeline.workdays import WorkdayCalendar
from tests.conftest import JILIN, JILIN_ID, plan_json

UTC = dt.timezone.utc


def parse(data: bytes | str) -> Calendar:
    return Calendar.from_ical(data)


def events(cal: Calendar) -> dict[str, object]:
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


def export(cli, year: int, *extra: str) -> Calendar:
    result = cli("ics", JILIN_ID, "--year", str(year), *extra)
    assert result.exit_code == 0, result.stderr
    return parse(result.stdout_bytes)


@pytest.mark.parametrize("year", [2022, 2023, 2024])
def test_one_event_per_milestone_on_its_effective_due_with_an_alarm_per_reminder(cli, year):
    plan = plan_json(cli, year)
    cal = export(cli, year)
    evs = events(cal)
    assert len(evs) == len(plan["milestones"])
    for m in plan["milestones"]:
        ev = evs[f"{JILIN_ID}-{year}-{m['id']}@yearwheel"]
        start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
        assert not isinstance(start, dt.datetime)  # all-day event
        assert start.isoformat() == m["due"]
        assert end - start == dt.timedelta(days=1)
        triggers = sorted(a.decoded("TRIGGER") for a in ev.walk("VALARM"))
        expected = sorted(dt.datetime.fromisoformat(r).astimezone(UTC) for r in m["reminders"])
        assert triggers == expected
        assert str(ev["SUMMARY"]).startswith("截止：")


def test_calendar_headers(cli):
    cal = export(cli, 2023)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == "-//Yearwheel//yearwheel//ZH"
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    assert "2023" in str(cal["X-WR-CALNAME"])


def test_a_deadline_on_a_rest_day_says_where_it_moved(cli):
    # December 25, 2022 is a Sunday: the summary forms are due Monday the 26th.
    ev = events(export(cli, 2022))[f"{JILIN_ID}-2022-clinic-feedback-forms@yearwheel"]
    assert ev.decoded("DTSTART") == dt.date(2022, 12, 26)
    description = str(ev["DESCRIPTION"])
    assert "2022-12-25（周日）" in description and "顺延至下一工作日" in description
    assert "截止：2022-12-26（周一）" in description


def test_uids_are_stable_across_exports_so_subscribers_update_in_place(cli):
    first = events(export(cli, 2023))
    second = events(export(cli, 2023))
    assert first.keys() == second.keys()
    assert len(first) == len(set(first))


def test_participant_calendar_holds_only_that_participants_milestones(cli):
    plan = plan_year(load_programme_file(JILIN), 2023, WorkdayCalendar())
    cal = export(cli, 2023, "--participant", "changchun")
    evs = events(cal)
    assert "长春市市场监督管理局" in str(cal["X-WR-CALNAME"])
    involved = {m.id for m in plan.milestones if "changchun" in m.assignees + m.cooperating}
    assert "clinic-recommendations" in involved
    assert "internal-training" not in involved  # the province's own work
    got = {uid.removeprefix(f"{JILIN_ID}-2023-").removesuffix("-changchun@yearwheel") for uid in evs}
    assert got == involved
    assert all(uid.endswith("-changchun@yearwheel") for uid in evs)


def test_unknown_participant_is_refused_with_the_known_ids(cli):
    result = cli("ics", JILIN_ID, "--year", "2023", "--participant", "harbin")
    assert result.exit_code == 1
    assert "unknown participant 'harbin'" in result.stderr and "changchun" in result.stderr
    assert result.stdout == ""


def test_output_file_is_written_whole(cli, tmp_path):
    out = tmp_path / "jilin-2023.ics"
    result = cli("ics", JILIN_ID, "--year", "2023", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert len(events(parse(out.read_bytes()))) == len(plan_json(cli, 2023)["milestones"])
    assert [p.name for p in tmp_path.iterdir()] == ["jilin-2023.ics"]


def test_missing_working_day_year_exits_2_before_writing(cli, tmp_path, jilin_text, calendar_copy):
    out = tmp_path / "x.ics"
    path = calendar_copy(jilin_text.replace("years: {first: 2022, last: 2024}", "years: {first: 2022, last: 2027}"))
    result = cli("ics", JILIN_ID, "--year", "2027", "-o", out, "--calendar-dir", path.parent)
    assert result.exit_code == 2
    assert "cn-2027.yaml" in result.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- strict RFC 5545
#
# icalendar reads almost anything back; tests/timeline/ics_strict.py does not. Every file
# the exporter can write for the shipped calendars is read strictly, and the negative
# self-tests below show the strict reader can fail.

from pathlib import Path  # noqa: E402

from models.timeline import ProgrammeFile  # noqa: E402
from models.timeline.ics import plan_to_ics  # noqa: E402
from tests.conftest import CALENDARS  # noqa: E402
from tests.timeline.ics_strict import StrictICSError, read_one  # noqa: E402

STAMP = dt.datetime(2025, 1, 1, 9, 30, tzinfo=UTC)
SHIPPED = sorted(CALENDARS.glob("*.yaml"))


def workdays() -> WorkdayCalendar:
    return WorkdayCalendar.from_directory(CALENDARS / "workdays")


def shipped_years() -> list[tuple[Path, int]]:
    cal = workdays()
    return [(path, year) for path in SHIPPED for year in load_programme_file(path).programme.years if cal.covers(year)]


def test_there_are_shipped_calendars_to_check():
    assert len(SHIPPED) >= 5 and len(shipped_years()) >= 10


@pytest.mark.parametrize(("path", "year"), shipped_years(), ids=lambda v: getattr(v, "stem", v))
def test_every_shipped_calendar_exports_strict_rfc5545(path, year):
    spec, cal = load_programme_file(path), workdays()
    plan = plan_year(spec, year, cal)
    ical = read_one(plan_to_ics(spec, plan, stamp=STAMP, cal=cal))
    assert ical["VERSION"].value == "2.0" and ical["PRODID"].value == "-//Yearwheel//yearwheel//ZH"
    evs = {e["UID"].value: e for e in ical.walk("VEVENT")}
    assert len(evs) == len(plan.milestones)
    for m in plan.milestones:
        ev = evs[f"{plan.programme}-{year}-{m.id}@yearwheel"]
        assert ev["DTSTAMP"].value == STAMP
        assert ev["DTSTART"].param("VALUE") == "DATE" and ev["DTSTART"].value == m.due
        assert ev["DTEND"].param("VALUE") == "DATE" and ev["DTEND"].value == m.due + dt.timedelta(days=1)
        assert ev["SUMMARY"].value == f"截止：{m.title}"
        assert ev["CATEGORIES"].value == [m.kind]
        alarms = ev.walk("VALARM")
        assert len(alarms) == len(m.reminders)
        for alarm, when in zip(alarms, m.reminders, strict=True):
            trigger = alarm["TRIGGER"]
            assert trigger.param("VALUE") == "DATE-TIME" and trigger.raw.endswith("Z")
            assert trigger.value == when.astimezone(UTC)
            assert alarm["ACTION"].value == "DISPLAY" and m.title in alarm["DESCRIPTION"].value


@pytest.mark.slow
@pytest.mark.parametrize(("path", "year"), shipped_years(), ids=lambda v: getattr(v, "stem", v))
def test_every_participant_calendar_is_strict_rfc5545_too(path, year):
    spec, cal = load_programme_file(path), workdays()
    plan = plan_year(spec, year, cal)
    seen = 0
    for p in spec.participants:
        ical = read_one(plan_to_ics(spec, plan, participant=p.id, stamp=STAMP, cal=cal))
        involved = {m.id for m in plan.milestones if p.id in m.assignees + m.cooperating}
        uids = {e["UID"].value for e in ical.walk("VEVENT")}
        assert uids == {f"{plan.programme}-{year}-{mid}-{p.id}@yearwheel" for mid in involved}
        assert p.name in ical["X-WR-CALNAME"].value
        seen += len(uids)
    assert seen >= len(plan.milestones) or not plan.milestones


def test_the_cli_output_is_strict_rfc5545(cli):
    result = cli("ics", JILIN_ID, "--year", "2023")
    assert result.exit_code == 0, result.stderr
    ical = read_one(result.stdout_bytes)
    assert ical.walk("VALARM") and all(a["TRIGGER"].value_type == "DATE-TIME" for a in ical.walk("VALARM"))


def test_a_participant_with_nothing_due_still_gets_a_valid_calendar():
    # The province only coordinates the Gansu key points: its own calendar has no event. An
    # empty VCALENDAR is not RFC 5545 (§3.6 wants one component): it carries the time zone.
    path = CALENDARS / "gansu-quality-keypoints-2023.yaml"
    spec, cal = load_programme_file(path), workdays()
    plan = plan_year(spec, 2023, cal)
    assert not [m for m in plan.milestones if "province" in m.assignees + m.cooperating]
    data = plan_to_ics(spec, plan, participant="province", stamp=STAMP, cal=cal)
    ical = read_one(data)
    assert ical.walk("VEVENT") == [] and [tz["TZID"].value for tz in ical.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    assert len(parse(data).walk("VTIMEZONE")) == 1


# --------------------------------------------------------------------------- why a surprising day


def programme_due(month: int, day: int, rest_day_rule: str) -> ProgrammeFile:
    """One milestone due on ``month``-``day`` with reminders on the due day and one working day before."""
    return ProgrammeFile.model_validate(
        {
            "version": 1,
            "programme": {
                "id": "p",
                "title": "试点方案",
                "issuer": "i",
                "years": {"first": 2023, "last": 2023},
                "defaults": {"reminder_policy": "std"},
            },
            "participants": [{"id": "city-a", "name": "甲市", "kind": "city"}],
            "reminder_policies": [{"id": "std", "send_at": "09:00", "before_due": [1, 0]}],
            "workstreams": [
                {
                    "id": "ws",
                    "title": "w",
                    "lead": ["city-a"],
                    "milestones": [
                        {
                            "id": "report",
                            "title": "报送总结",
                            "kind": "submission",
                            "source": {"clause": "一"},
                            "due": {"rule": "fixed", "month": month, "day": day},
                            "rest_day_rule": rest_day_rule,
                        },
                    ],
                }
            ],
        }
    )


def only_event(data: bytes):
    (ev,) = read_one(data).walk("VEVENT")
    return ev


def test_a_deadline_on_an_adjusted_working_sunday_says_so_when_the_calendar_is_given():
    # Sunday 2023-04-23 was a working day (调休, for Labour Day): kept, it is the due date.
    spec, cal = programme_due(4, 23, "keep"), workdays()
    plan = plan_year(spec, 2023, cal)
    ev = only_event(plan_to_ics(spec, plan, stamp=STAMP, cal=cal))
    assert ev["DTSTART"].value == dt.date(2023, 4, 23)
    assert "截止：2023-04-23（周日，调休上班）" in ev["DESCRIPTION"].value
    alarms = ev.walk("VALARM")
    assert [a["TRIGGER"].value for a in alarms] == [
        dt.datetime(2023, 4, 21, 1, tzinfo=UTC),  # Friday 09:00 in Shanghai; Saturday the 22nd is a rest day
        dt.datetime(2023, 4, 23, 1, tzinfo=UTC),
    ]
    assert all(a["DESCRIPTION"].value == "提醒：报送总结，2023年4月23日（星期日，调休上班）截止" for a in alarms)

    bare = only_event(plan_to_ics(spec, plan, stamp=STAMP))  # without the calendar: only the weekday
    assert "截止：2023-04-23（周日）" in bare["DESCRIPTION"].value
    assert "调休" not in bare["DESCRIPTION"].value


def test_a_deadline_moved_out_of_a_holiday_explains_both_days():
    # 2023-10-01 is inside the National Day break; the next working day is Saturday 10-07 (调休).
    spec, cal = programme_due(10, 1, "next_workday"), workdays()
    ev = only_event(plan_to_ics(spec, plan_year(spec, 2023, cal), stamp=STAMP, cal=cal))
    assert ev["DTSTART"].value == dt.date(2023, 10, 7)
    assert (
        "截止：2023-10-07（周六，调休上班）；文件规定 2023-10-01（周日，国庆节假期） 为休息日，顺延至下一工作日"
        in ev["DESCRIPTION"].value
    )
    assert ev.walk("VALARM")[0]["DESCRIPTION"].value.endswith("2023年10月7日（星期六，调休上班）截止")


# --------------------------------------------------------------------------- the strict reader can fail

GOOD = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//Test//strict//ZH\r\n"
    "X-WR-CALNAME:试点\\, 一期\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:a@test\r\n"
    "DTSTAMP:20250101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20230423\r\n"
    "DTEND;VALUE=DATE:20230424\r\n"
    "SUMMARY:截止：报送总结\r\n"
    "DESCRIPTION:第一行\\n第二行\\; 含分号\\, 逗号和反斜杠\\\\\r\n"
    "CATEGORIES:submission,report\r\n"
    "TRANSP:TRANSPARENT\r\n"
    "BEGIN:VALARM\r\n"
    "ACTION:DISPLAY\r\n"
    "DESCRIPTION:提醒\r\n"
    "TRIGGER;VALUE=DATE-TIME:20250102T010000Z\r\n"
    "END:VALARM\r\n"
    "BEGIN:VALARM\r\n"
    "ACTION:DISPLAY\r\n"
    "DESCRIPTION:提醒\r\n"
    "TRIGGER;RELATED=START:-P1DT2H\r\n"
    "END:VALARM\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def test_the_strict_reader_accepts_a_correct_calendar():
    ical = read_one(GOOD.encode())
    (ev,) = ical.walk("VEVENT")
    assert ical["X-WR-CALNAME"].value == "试点, 一期"
    assert ev["DESCRIPTION"].value == "第一行\n第二行; 含分号, 逗号和反斜杠\\"
    assert ev["CATEGORIES"].value == ["submission", "report"]
    first, second = ev.walk("VALARM")
    assert first["TRIGGER"].value == dt.datetime(2025, 1, 2, 1, tzinfo=UTC)
    assert second["TRIGGER"].value == -dt.timedelta(days=1, hours=2)


@pytest.mark.parametrize(
    ("old", "new", "line", "complaint"),
    [
        # the bug of the issue: an absolute trigger without VALUE=DATE-TIME reads as a bad DURATION
        ("TRIGGER;VALUE=DATE-TIME:20250102T010000Z", "TRIGGER:20250102T010000Z", 17, "TRIGGER"),
        ("TRIGGER;VALUE=DATE-TIME:20250102T010000Z", "TRIGGER;VALUE=DATE-TIME:20250102T010000", 17, "UTC"),
        ("DTSTART;VALUE=DATE:20230423", "DTSTART:20230423", 8, "VALUE=DATE"),
        ("DTEND;VALUE=DATE:20230424", "DTEND:20230424T000000", 9, "DTEND"),
        ("DTSTAMP:20250101T000000Z", "DTSTAMP:20250101T000000", 7, "UTC"),
        ("DTSTAMP:20250101T000000Z", "DTSTAMP;VALUE=DATE:20250101", 7, "VALUE=DATE"),
        ("DTSTART;VALUE=DATE:20230423", "DTSTART;VALUE=DATE:20230231", 8, "calendar date"),
        ("SUMMARY:截止：报送总结", "SUMMARY:截止，报送; 总结", 10, "unescaped ';'"),
        ("SUMMARY:截止：报送总结", "SUMMARY:报送,总结", 10, "unescaped ','"),
        ("SUMMARY:截止：报送总结", "SUMMARY:报送\\t总结", 10, "bad escape"),
        ("TRANSP:TRANSPARENT", "TRANSP:SOMETIMES", 13, "OPAQUE"),
        ("TRANSP:TRANSPARENT", "COLOUR:red", 13, "unknown property COLOUR"),
        ("TRANSP:TRANSPARENT", "TRANSP;FOO=1:TRANSPARENT", 13, "unknown parameter FOO"),
        ("TRANSP:TRANSPARENT", 'TRANSP;X-A="unclosed:TRANSPARENT', 13, "quoted"),
        ("UID:a@test\r\n", "", 5, "VEVENT has no UID"),
        ("VERSION:2.0", "VERSION:1.0", 2, "2.0"),
        ("DESCRIPTION:提醒\r\nTRIGGER;VALUE", "TRIGGER;VALUE", 14, "no DESCRIPTION"),
        ("TRIGGER;RELATED=START:-P1DT2H", "TRIGGER;RELATED=START:-P1D2H", 22, "DURATION"),
        ("END:VALARM\r\nEND:VEVENT", "END:VEVENT", 23, "closes VALARM"),
        ("BEGIN:VALARM\r\nACTION", "BEGIN:VTODO\r\nACTION", 14, "VTODO cannot be inside VEVENT"),
        ("SUMMARY:截止：报送总结", "SUMMARY:a\r\nSUMMARY:b", 11, "more than once"),
    ],
)
def test_the_strict_reader_refuses_each_violation_naming_the_line(old, new, line, complaint):
    assert old in GOOD
    with pytest.raises(StrictICSError) as err:
        read_one(GOOD.replace(old, new, 1).encode())
    assert err.value.line == line, err.value
    assert complaint in str(err.value) and str(err.value).startswith(f"line {line}:")


def test_the_strict_reader_refuses_what_the_old_exporter_wrote():
    # Exactly what icalendar produced before the fix: a bare absolute TRIGGER.
    data = GOOD.replace("TRIGGER;VALUE=DATE-TIME:", "TRIGGER:").encode()
    assert parse(data).walk("VALARM")  # the lenient parser took it
    with pytest.raises(StrictICSError, match=r"line 17: TRIGGER: .*not a DURATION.*VALUE=DATE-TIME"):
        read_one(data)


def test_the_strict_reader_refuses_a_bare_lf_line_ending():
    with pytest.raises(StrictICSError, match="line 1: bare LF"):
        read_one(GOOD.replace("\r\n", "\n").encode())
    with pytest.raises(StrictICSError, match="line 6: bare LF"):
        read_one(GOOD.replace("UID:a@test\r\n", "UID:a@test\n").encode())
    with pytest.raises(StrictICSError, match="CRLF"):
        read_one(GOOD.encode()[:-2])


def test_the_strict_reader_refuses_an_over_long_line_and_reads_a_correct_fold():
    text = "截止：" + "报送总结" * 8  # 105 octets of UTF-8 on one line
    long_line = f"SUMMARY:{text}"
    assert len(long_line.encode()) > 75
    with pytest.raises(StrictICSError, match=r"line 10: line is \d+ octets long"):
        read_one(GOOD.replace("SUMMARY:截止：报送总结", long_line).encode())
    encoded = long_line.encode()
    folded = encoded[:74] + b"\r\n " + encoded[74:]  # 74 = 8 + 22 three-octet characters
    (ev,) = read_one(GOOD.encode().replace("SUMMARY:截止：报送总结".encode(), folded)).walk("VEVENT")
    assert ev["SUMMARY"].value == text


def test_the_strict_reader_refuses_a_fold_inside_a_multi_octet_character():
    encoded = "SUMMARY:截止：报送总结".encode()
    split = encoded[:9] + b"\r\n " + encoded[9:]  # 截 is octets 8..10
    with pytest.raises(StrictICSError, match="line 10: .*multi-octet"):
        read_one(GOOD.encode().replace("SUMMARY:截止：报送总结".encode(), split))


def test_the_strict_reader_refuses_an_empty_calendar_and_stray_lines():
    header = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//T//EN\r\n"
    with pytest.raises(StrictICSError, match="line 1: VCALENDAR holds no component"):
        read_one((header + "END:VCALENDAR\r\n").encode())
    with pytest.raises(StrictICSError, match="line 26: SUMMARY outside any component"):
        read_one((GOOD + "SUMMARY:x\r\n").encode())
    with pytest.raises(StrictICSError, match="never closed"):
        read_one(GOOD.removesuffix("END:VCALENDAR\r\n").encode())
