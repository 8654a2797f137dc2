"""`yearwheel validate` on broken copies of the shipped calendar: one line per problem,
PATH:LINE:COLUMN: field path and what was expected. Lines are found from the broken text
itself, so the assertions follow the file if it is edited."""

from __future__ import annotations

import pytest

from tests.conftest import JILIN_ID

ANNOUNCED_DUE = "        due: {rule: end_of_month, month: 3}\n        form: industry-announcement"
FEEDBACK_DUE = "        due: {rule: fixed, month: 12, day: 25}\n        form: task-feedback"
MEETING_DUE = "        due: {rule: end_of_month, month: 8}\n        form: industry-improvement-plans"

# name: (old text, new text, the line to point at (a substring of the new text), column, message fragment)
CASES = {
    "unknown key": (
        "        kind: announcement\n        cooperating: [city-bureaus]\n" + ANNOUNCED_DUE,
        "        kind: announcement\n        colour: red\n        cooperating: [city-bureaus]\n" + ANNOUNCED_DUE,
        "colour: red",
        9,
        "workstreams[clinic].milestones[clinic-industries-announced].colour: unknown key 'colour'; expected one of: id, title, kind,",
    ),
    "missing key": (
        "      - id: clinic-visits\n        title: 选派质量专家分产业到企业开展上门诊断服务\n",
        "      - id: clinic-visits\n",
        "      - id: clinic-visits\n",
        9,  # the mapping that lacks the key
        "workstreams[clinic].milestones[clinic-visits].title: missing required key 'title'",
    ),
    "wrong type": (
        "    value: 5\n",
        "    value: five\n",
        "value: five",
        12,
        "parameters[min-recommended-enterprises].value: expected an integer, got str 'five'",
    ),
    "quoted number is not a number": ("    value: 5\n", "    value: '5'\n", "value: '5'", 12, "expected an integer, got str '5'"),
    "february 30": (
        FEEDBACK_DUE,
        FEEDBACK_DUE.replace("month: 12, day: 25", "month: 2, day: 30"),
        "month: 2, day: 30",
        14,
        "milestones[clinic-feedback-forms].due: February has no day 30 (at most 29)",
    ),
    "february 29 in common years": (
        FEEDBACK_DUE,
        FEEDBACK_DUE.replace("month: 12, day: 25", "month: 2, day: 29"),
        "month: 2, day: 29",
        43,
        "due.day: February 29 does not exist in 2022, 2023",
    ),
    "month 13": (
        MEETING_DUE,
        MEETING_DUE.replace("month: 8", "month: 13"),
        "month: 13}",
        42,
        "milestones[clinic-feedback-meeting].due.month: expected 12 or less, got int 13",
    ),
    "impossible date literal": (
        "  issued: 2022-05-26",
        "  issued: 2022-02-30",
        "issued: 2022-02-30",
        11,
        "programme.issued: '2022-02-30' is not a real date",
    ),
    "unknown rule": (
        MEETING_DUE,
        MEETING_DUE.replace("end_of_month", "end_of_quarter"),
        "end_of_quarter",
        21,
        "due.rule: unknown rule 'end_of_quarter'; expected one of: 'fixed', 'end_of_month'",
    ),
    "rule missing": (
        MEETING_DUE,
        MEETING_DUE.replace("{rule: end_of_month, month: 8}", "{month: 8}"),
        "due: {month: 8}",
        14,
        "due: missing required key 'rule'",
    ),
    "unknown milestone": (
        "milestone: clinic-industries-announced, days: 15}",
        "milestone: clinic-industries-anounced, days: 15}",
        "clinic-industries-anounced, days: 15",
        52,
        "milestones[clinic-recommendations].due.milestone: unknown milestone 'clinic-industries-anounced'",
    ),
    "unknown participant": (
        "    members: [quality-service-provider]",
        "    members: [quality-service-providr]",
        "quality-service-providr",
        15,
        "groups[third-parties].members[0]: unknown participant 'quality-service-providr'",
    ),
    "unknown assignee": (
        "        assignees: [inspection-division]",
        "        assignees: [inspection-divison]",
        "inspection-divison",
        21,
        "milestones[inspection-training].assignees[0]: unknown participant or group 'inspection-divison'",
    ),
    "unknown form": (
        "        form: expert-visits\n",
        "        form: expert-visit\n",
        "form: expert-visit\n",
        15,
        "milestones[clinic-visits].form: unknown form 'expert-visit'",
    ),
    "unknown role": (
        "      - {after_working_days: 5, to: [coordinator]}",
        "      - {after_working_days: 5, to: [coordinater]}",
        "coordinater",
        38,
        "reminder_policies[submission].escalations[1].to[0]: unknown role 'coordinater'",
    ),
    "unknown parameter": (
        "{parameter: min-recommended-enterprises}",
        "{parameter: min-recommended}",
        "min-recommended}",
        31,
        "min_rows.parameter: unknown parameter 'min-recommended'",
    ),
    "cycle": (
        ANNOUNCED_DUE,
        ANNOUNCED_DUE.replace(
            "{rule: end_of_month, month: 3}", "{rule: working_days_before, milestone: clinic-recommendations, days: 1}"
        ),
        "milestone: clinic-recommendations, days: 1",
        14,
        "relative dates form a cycle: clinic-industries-announced.due → clinic-recommendations.due → clinic-industries-announced.due",
    ),
    "opens after due": (
        "        opens: {rule: start_of_month, month: 11}\n" + FEEDBACK_DUE,
        "        opens: {rule: start_of_month, month: 12}\n" + FEEDBACK_DUE.replace("month: 12, day: 25", "month: 11, day: 25"),
        "opens: {rule: start_of_month, month: 12}",
        16,
        "milestones[clinic-feedback-forms].opens: in 2023 it opens on 2023-12-01, after its due date 2023-11-27",
    ),
    "year outside the programme": (
        "        years: [2023]\n        form: training-report",
        "        years: [2025]\n        form: training-report",
        "years: [2025]",
        17,
        "milestones[leaders-training].years[0]: 2025 is outside the programme years 2022–2024",
    ),
    "unquoted time": (
        '    send_at: "09:00"\n    before_due: [10, 5, 1, 0]',
        "    send_at: 9:30\n    before_due: [10, 5, 1, 0]",
        "send_at: 9:30",
        14,
        "reminder_policies[submission].send_at: write the time in quotes",
    ),
    "wrong version": ("version: 1\n", "version: 2\n", "version: 2", 10, "version: expected 1, got int 2"),
    "bad id": ("  - id: clinic\n", "  - id: Clinic_Stream\n", "id: Clinic_Stream", 9, "expected a kebab-case id"),
    "empty group": (
        "    members: [quality-service-provider]",
        "    members: []",
        "members: []",
        14,
        "groups[third-parties].members: expected at least 1 item(s), got 0",
    ),
    "duplicate key": (
        "    value: 5\n",
        "    value: 5\n    value: 6\n",
        "value: 6",
        5,
        "duplicate key 'value' (first given at line",
    ),
    "bad indentation": (
        "  - id: coordinator\n    title:",
        "  - id: coordinator\n   title:",
        "   title: 省厅质量发展处",
        4,
        "not valid YAML:",
    ),
    "python tag": (
        "    value: 5\n",
        "    value: !!python/object/apply:os.system ['echo pwned']\n",
        "!!python",
        12,
        "the tag !!python/object/apply:os.system is not allowed",
    ),
    "alias": ("    value: 5\n", "    value: &five 5\n    minimum: *five\n", "value: &five", 12, "anchors and aliases"),
    # the scorecard (考评) and the bulletin
    "cohort of an unknown group": (
        "      members: [third-parties]\n  indicators:",
        "      members: [third-partys]\n  indicators:",
        "members: [third-partys]",
        17,
        "scorecard.cohorts[third-parties].members[0]: unknown participant or group 'third-partys'",
    ),
    "a participant ranked twice": (
        "      members: [third-parties]\n  indicators:",
        "      members: [third-parties, changchun]\n  indicators:",
        "members: [third-parties, changchun]",
        32,
        "'changchun' is already ranked in cohort 'city-bureaus'; a participant is ranked in one cohort",
    ),
    "an indicator for an unknown cohort": (
        "      weight: 30\n      cohorts: [third-parties]",
        "      weight: 30\n      cohorts: [third-party]",
        "cohorts: [third-party]",
        17,
        "unknown cohort 'third-party'; known: city-bureaus, divisions-units, third-parties",
    ),
    "a contribution to an unknown target": (
        "      target: regional-brands\n      weight: 10",
        "      target: regional-brand\n      weight: 10",
        "target: regional-brand\n",
        15,
        "unknown target 'regional-brand'",
    ),
    "zero_at on a rate": (
        "      measure: on_time_rate\n      weight: 40",
        "      measure: on_time_rate\n      zero_at: 3\n      weight: 40",
        "- id: on-time-rate\n",  # the indicator as a whole
        7,
        "'zero_at' only applies to days_late_mean, days_late_worst, missing, not on_time_rate",
    ),
    "a negative weight": (
        "      weight: 15\n",
        "      weight: -15\n",
        "weight: -15",
        15,
        "weight: expected more than 0, got int -15",
    ),
    # fan-out milestones (for_each)
    "a fan-out key that is no column": (
        "          key: task_no\n",
        "          key: task_number\n",
        "key: task_number",
        16,
        "for_each.key: 'task_number' is not a column of task-assignment-sheet.tasks; its columns: task_no, industry",
    ),
    "a fan-out from a field that is no table": (
        "          field: tasks\n          key: task_no",
        "          field: summary\n          key: task_no",
        "field: summary",
        18,
        "'summary' is not a field of form 'task-assignment-sheet'; a fan-out needs a table field (tables of the form: tasks)",
    ),
    "a fan-out assignee column that is no column": (
        "          assignee: {column: responsible_unit}",
        "          assignee: {column: unit}",
        "assignee: {column: unit}",
        30,
        "for_each.assignee.column: 'unit' is not a column of task-assignment-sheet.tasks",
    ),
    "a fan-out from a milestone without a form": (
        "          milestone: clinic-task-sheets\n",
        "          milestone: clinic-recommendation-letterz\n",
        "milestone: clinic-recommendation-letterz",
        22,
        "for_each.milestone: unknown milestone 'clinic-recommendation-letterz'",
    ),
    "items counted from a milestone that does not fan out": (
        "    count_items: {milestone: clinic-visit-reports,",
        "    count_items: {milestone: clinic-visits,",
        "count_items: {milestone: clinic-visits,",
        30,
        "'clinic-visits' does not fan out; count_items counts the items of a fan-out milestone (clinic-visit-reports, clinic-measure-feedback)",
    ),
    "a bulletin to a role held in each unit": (
        "  to: [coordinator, leading-group-office]",
        "  to: [coordinator, unit-head]",
        "to: [coordinator, unit-head]",
        21,
        "role 'unit-head' has no holder",
    ),
    "an overdue alert to a role held in each unit": (
        "  threshold: 10\n  to: [coordinator]",
        "  threshold: 10\n  to: [unit-head]",
        "to: [unit-head]\n  source",
        8,
        "overdue_alert.to[0]: role 'unit-head' has no holder",
    ),
    "an overdue alert to nobody the calendar knows": (
        "  threshold: 10\n  to: [coordinator]",
        "  threshold: 10\n  to: [coordinator, the-minister]",
        "to: [coordinator, the-minister]",
        21,
        "overdue_alert.to[1]: unknown role or participant 'the-minister'",
    ),
    "an overdue alert at zero": (
        "  threshold: 10\n  to: [coordinator]",
        "  threshold: 0\n  to: [coordinator]",
        "threshold: 0",
        14,
        "overdue_alert.threshold:",
    ),
}


def _line_of(text: str, needle: str) -> int:
    assert text.count(needle) == 1, f"{needle!r} must occur once in the broken text"
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("name", list(CASES))
def test_broken_copy_is_reported_precisely(name, cli, jilin_text, calendar_copy):
    old, new, anchor, column, message = CASES[name]
    assert jilin_text.count(old) == 1, f"{name}: the shipped calendar changed; update the case"
    broken = jilin_text.replace(old, new)
    path = calendar_copy(broken)
    result = cli("validate", path)
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    expected_prefix = f"{path}:{_line_of(broken, anchor)}:{column}: "
    matching = [ln for ln in lines if ln.startswith(expected_prefix) and message in ln]
    assert matching, f"expected a line starting {expected_prefix!r} containing {message!r}; got:\n" + result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_every_problem_is_reported_not_just_the_first(cli, jilin_text, calendar_copy):
    broken = jilin_text.replace("    value: 5\n", "    value: five\n").replace(
        "        form: expert-visits\n", "        form: nope\n"
    )
    broken = broken.replace("    members: [quality-service-provider]", "    members: [ghost]")
    result = cli("validate", calendar_copy(broken))
    assert result.exit_code == 1
    # Schema errors stop before reference checks (references need a parsed calendar): fix, re-run.
    assert len(result.stdout.splitlines()) == 1 and "value: expected an integer" in result.stdout
    fixed_value = broken.replace("    value: five\n", "    value: 5\n")
    result = cli("validate", calendar_copy(fixed_value))
    assert len(result.stdout.splitlines()) == 2
    assert "unknown form 'nope'" in result.stdout and "unknown participant 'ghost'" in result.stdout


def test_file_must_be_named_after_the_programme(cli, jilin_text, calendar_copy):
    path = calendar_copy(jilin_text, name="jilin.yaml")
    result = cli("validate", path)
    assert result.exit_code == 1
    assert f"{path}:" in result.stdout and f"must be named {JILIN_ID}.yaml" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"- just\n- a list\n", "expected a mapping at the top of the file, got a list"),
        ("version: 1\nprogramme: {title: 质量}\n".encode("gbk"), "not UTF-8"),
        (b"a: &x [1]\nb: *x\n", "anchors and aliases"),
    ],
)
def test_unreadable_files(cli, tmp_path, content, message):
    path = tmp_path / "calendar" / "x.yaml"
    path.parent.mkdir()
    path.write_bytes(content)
    result = cli("validate", path)
    assert result.exit_code == 1 and message in result.stdout
    assert result.stdout.startswith(f"{path}:")


def test_billion_laughs_is_refused_quickly(cli, tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = cli("validate", path)
    assert result.exit_code == 1 and "anchors and aliases" in result.stdout


def test_validate_default_checks_the_shipped_calendars(cli):
    result = cli("validate")
    assert result.exit_code == 0, result.stdout
    assert result.stdout == "" and "valid" in result.stderr


def test_validate_a_directory_includes_workday_files(cli, jilin_text, calendar_copy):
    path = calendar_copy(jilin_text)
    wd = path.parent / "workdays"
    wd.mkdir()
    (wd / "cn-2027.yaml").write_text(
        "version: 1\nyear: 2027\nsource: x\nholidays:\n  - {name: 元旦, first: 2027-01-01, last: 2027-01-01}\nadjusted_workdays: [2027-01-04]\n"
    )
    result = cli("validate", path.parent)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{wd / 'cn-2027.yaml'}:") and "2027-01-04 is a weekday" in result.stdout


def test_counting_from_a_milestone_not_held_is_refused_whatever_the_reason(cli, jilin_text, calendar_copy):
    # in force from April 10th 2022: the end-of-March announcement is not held in 2022, but the
    # recommendations due 15 working days after it (04-22) would be — counted from nothing
    text = jilin_text.replace("in_force_from: 2022-05-26", "in_force_from: 2022-04-10")
    assert text != jilin_text
    path = calendar_copy(text)
    result = cli("validate", path)
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if "clinic-recommendations" in line]
    assert lines, result.stdout
    assert "counts from 'clinic-industries-announced', which is not held in 2022" in lines[0]
    assert "before the programme came into force on 2022-04-10" in lines[0]
    rule_line = next(
        i
        for i, line in enumerate(text.splitlines(), start=1)
        if "due: {rule: working_days_after, milestone: clinic-industries-announced, days: 15}" in line
    )
    assert any(line.startswith(f"{path}:{rule_line}:") for line in lines)  # at the rule that counts from it


def test_a_year_file_problem_is_reported_once_at_its_date(cli, jilin_text, calendar_copy):
    path = calendar_copy(jilin_text)
    wd = path.parent / "workdays"
    wd.mkdir()
    (wd / "cn-2027.yaml").write_text(
        "version: 1\nyear: 2027\nsource: x\nholidays:\n  - {name: 元旦, first: 2027-01-01, last: 2027-01-01}\n"
        "adjusted_workdays:\n  - 2027-01-09\n  - 2027-01-04\n",
        encoding="utf-8",
    )
    result = cli("validate", path.parent)
    assert result.exit_code == 1
    problems = result.stdout.splitlines()
    assert problems == [
        f"{wd / 'cn-2027.yaml'}:8:5: adjusted_workdays[1]: adjusted working day 2027-01-04 is a weekday; "
        "list only weekend days that become working days"
    ]


def test_a_fan_out_from_a_later_milestone_is_refused_for_each_year(cli, jilin_text, calendar_copy):
    broken = jilin_text.replace(
        "          milestone: clinic-plan-issued\n          field: enterprises\n          key: credit_code\n"
        "          name: name\n          keep: [city, industry]",
        "          milestone: clinic-task-sheets\n          field: tasks\n          key: task_no\n"
        "          name: enterprise\n          keep: [industry, credit_code]",
    ).replace("          assignee: {draw: clinic-visits}\n", "")  # the draw is over the plan's rows: owed by the lead
    assert broken != jilin_text
    result = cli("validate", calendar_copy(broken))
    assert result.exit_code == 1
    lines = [ln for ln in result.stdout.splitlines() if "milestones[clinic-visit-reports].for_each" in ln]
    assert len(lines) == 3  # 2022, 2023, 2024
    assert "fans out from 'clinic-task-sheets', due 2023-11-30 in 2023, after this milestone's due date 2023-07-31" in lines[1]
