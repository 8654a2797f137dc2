"""Contacts files, message text and quiet-hours holds (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from models.timeline import TZ, WorkdayCalendar
from notifications.contacts import ContactsInvalid, QuietHours, load_contacts
from notifications.hold import release_time
from notifications.templates import KINDS, SHORT_LIMIT, MessageContext, render

CAL = WorkdayCalendar()


def test_contacts_file_problems_name_file_line_and_field(tmp_path):
    f = tmp_path / "contacts.yaml"
    f.write_text(
        "version: 1\n"
        "email: {host: 127.0.0.1, port: 25, sender: 'a <a@b.cn>', security: none, password: hunter2}\n"
        "participants:\n"
        "  cc:\n"
        "    email: [office@cc.cn, not-an-address]\n"
        "    phone: ['12ab']\n"
        "    colour: red\n",
        encoding="utf-8",
    )
    with pytest.raises(ContactsInvalid) as info:
        load_contacts(f)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{f}:2:") and "email.password: secrets must not be written in the contacts file" in lines[0]
    assert f"{f}:5:" in lines[1] and "not an email address: 'not-an-address'" in lines[1]
    assert f"{f}:6:" in lines[2] and "not a phone number" in lines[2]
    assert f"{f}:7:5: participants.cc.colour: unknown key 'colour'" in lines[3]


def test_channels_need_a_server_and_an_address(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(
        "version: 1\nsms: {url: 'http://127.0.0.1:9/sms'}\nparticipants:\n"
        "  cc: {email: [a@b.cn], phone: ['+8613800000001'], head: {phone: ['+8613800000002']}}\n",
        encoding="utf-8",
    )
    c = load_contacts(f)
    assert c.channels("cc") == ("sms",)  # email listed but no SMTP server configured
    assert c.channels("cc", "head") == ("sms",)
    assert c.channels("nobody") == ()


CTX = dict(
    programme_id="p",
    programme_title="深入开展质量提升行动三年计划",
    year=2023,
    milestone_id="m",
    milestone_title="提交“一市一域、一县一品”年度提升成效表",
    participant_id="cc",
    participant_name="长春市市场监督管理局",
    due=dt.date(2023, 12, 25),
    form_title="年度提升成效表",
)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_for_email_and_sms(kind):
    extra = {
        "upcoming": {"working_days_left": 5},
        "due_today": {"working_days_left": 0},
        "overdue": {"working_days_late": 3, "chaser_number": 2},
        "escalation": {"working_days_late": 5, "escalated_to": "省厅质量发展处联络人"},
        "acknowledgement": {
            "submitted_at": dt.datetime(2023, 12, 26, 2, 30, tzinfo=dt.timezone.utc),
            "on_time": False,
            "version": 2,
            "working_days_late": 1,
        },
        "returned": {"reason": "服务企业数与名单不符"},
        "target_behind": {
            "target_title": "为企业提供质量提升服务",
            "target_value": 120,
            "target_expected": 184.54,
            "target_goal": 300,
            "target_unit": "户",
            "submitted_at": dt.datetime(2023, 12, 1, 1, 0, tzinfo=dt.timezone.utc),
        },
        "digest": {
            "escalated_to": "省厅质量发展处联络人",
            "items": tuple(
                {
                    "participant_name": name,
                    "milestone_title": "提交年度提升成效表",
                    "year": 2023,
                    "due": dt.date(2023, 12, 18),
                    "working_days_late": 5,
                }
                for name in ("长春市市场监督管理局", "吉林市市场监督管理局")
            ),
        },
        "bulletin": {
            "lines": ("12月份共有22项报送事项到期。", "· 白城市局“年度提升成效表”：未报送"),
            "link": "https://yw.example/b",
        },
    }.get(kind, {})
    ctx = MessageContext(kind=kind, **CTX, **extra)
    subject, body = render(ctx, "email")
    assert "2023年12月25日（星期一）" in body and subject and "\n" not in subject
    _, short = render(ctx, "sms")
    assert short.startswith("【质量提升行动】") and len(short) <= SHORT_LIMIT and "\n" not in short
    expected = {
        "upcoming": "还有5个工作日",
        "overdue": "已逾期3个工作日",
        "escalation": "长春市市场监督管理局",
        "acknowledgement": "2023年12月26日（星期二）10:30",
        "returned": "服务企业数与名单不符",
        "target_behind": "完成120户，按计划进度此时应完成184.54户（目标300户）",
        "digest": "2. 吉林市市场监督管理局　“提交年度提升成效表”（2023年度）\n   截止日期：2023年12月18日（星期一），已逾期5个工作日",
        "bulletin": "· 白城市局“年度提升成效表”：未报送",
    }.get(kind)
    if expected:
        assert expected in body
    if kind == "escalation":
        assert body.startswith("省厅质量发展处联络人：") and "逾期报告" in subject
    if kind == "acknowledgement":
        assert "第2版" in body and "逾期报送（逾期1个工作日）" in body


def test_a_moved_due_date_is_explained():
    _, body = render(
        MessageContext(kind="opened", **{**CTX, "due": dt.date(2023, 10, 9)}, nominal_due=dt.date(2023, 9, 30)), "email"
    )
    assert "截止日期：2023年10月9日（星期一）（文件规定为2023年9月30日（星期六），逢休息日依规调整）" in body


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.mark.parametrize(
    "at,expected",
    [
        ("2023-12-25T12:00", "2023-12-25T12:00"),  # working hours: at once
        ("2023-12-25T07:00", "2023-12-25T08:30"),  # early morning: this morning
        ("2023-12-22T20:00", "2023-12-25T08:30"),  # Friday evening: Monday morning
        ("2023-12-23T10:00", "2023-12-25T08:30"),  # Saturday
        ("2023-09-28T21:00", "2023-10-07T08:30"),  # before National Day: Saturday 10-07 is a working day (调休)
        ("2023-10-01T10:00", "2023-10-07T08:30"),
    ],
)
def test_sms_and_chat_wait_for_the_next_working_morning(at, expected):
    for channel in ("sms", "dingtalk", "wecom", "feishu", "webhook"):
        assert release_time(channel, local(at), CAL, QuietHours()) == local(expected)
    assert release_time("email", local(at), CAL, QuietHours()) == local(at)  # email is never held


def test_routes_give_every_address_a_stable_id_without_the_address_in_it(tmp_path):
    from notifications.contacts import routes

    f = tmp_path / "c.yaml"
    f.write_text(
        "version: 1\nemail: {host: 127.0.0.1, port: 25, sender: 'a <a@b.cn>', security: none}\n"
        "participants:\n  cc: {email: [a@cc.cn, b@cc.cn], webhook: {url: 'http://127.0.0.1:9/h'}}\n",
        encoding="utf-8",
    )
    r = routes(load_contacts(f), "cc")
    assert [ch for ch, _ in r] == ["email", "email", "webhook"]
    assert len({a for _, a in r}) == 3 and all("@" not in a for _, a in r)
    f.write_text(f.read_text(encoding="utf-8").replace("[a@cc.cn, b@cc.cn]", "[b@cc.cn, a@cc.cn]"), encoding="utf-8")
    assert set(routes(load_contacts(f), "cc")) == set(r)  # reordering the file changes no key
