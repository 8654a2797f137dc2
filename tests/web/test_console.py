"""The coordinator's console over real HTTP (uvicorn on loopback, httpx with cookies), the
ledger on SQLite and PostgreSQL, the bureaus' mail through the loopback SMTP server:
accounts and roles, sessions and CSRF, the board, a task's actions recorded under the
signed-in user, bulk actions, throttled and locked sign-in."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from models.tables import OutboxMessage, StatusChange, Task
from tests.engine.conftest import PROGRAMME, ledger, tasks_of
from tests.web.test_web import Clock, at, link, serve

pytestmark = pytest.mark.slow  # a real uvicorn server per test

PASSWORD = "correct horse battery staple"


def users(world):
    from yearwheel import accounts as A
    from yearwheel.runtime import open_database

    engine, sessions = open_database(world.database_url)
    now = at("2023-12-01T09:00")
    A.add_user(
        sessions,
        "zhangsan",
        role="coordinator",
        password=PASSWORD,
        display_name="张三（质量发展处）",
        programmes=[PROGRAMME],
        now=now,
    )
    A.add_user(sessions, "leader", role="viewer", password=PASSWORD, display_name="领导小组", programmes=["*"], now=now)
    A.add_user(sessions, "other", role="coordinator", password=PASSWORD, programmes=["another-programme"], now=now)
    return engine, sessions


@pytest.fixture
def console(world, tmp_path):
    world.advance("2023-12-01T09:00")
    world.advance("2023-12-26T09:00")  # late-city and exempt-city overdue, punctual-city too (none submitted)
    engine, sessions = users(world)
    clock = Clock(at("2023-12-27T10:00"))
    with serve(world, clock, tmp_path) as (base, settings):
        yield base, clock, sessions
    engine.dispose()


def attempt(base: str, username: str, password: str = PASSWORD, next: str = "/console") -> tuple[httpx.Client, httpx.Response]:
    """Open the sign-in page (its pre-session token) and sign in, as a browser does."""
    c = httpx.Client(base_url=base, follow_redirects=False)
    page = c.get("/console/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    return c, c.post("/console/login", data={"username": username, "password": password, "next": next, "login_csrf": token})


def sign_in(base: str, username: str, password: str = PASSWORD) -> httpx.Client:
    c, r = attempt(base, username, password)
    assert r.status_code == 303, r.text
    return c


def eventually(check, timeout: float = 15.0) -> bool:
    """The background sender delivers after the request: wait for what it sends."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def late_task(world) -> int:
    with ledger(world) as s:
        return s.scalar(tasks_of(2023, "late-city").with_only_columns(Task.id))


def test_sign_in_sets_a_guarded_session_and_wrong_answers_say_nothing_more(console):
    base, _, _ = console
    _, r = attempt(base, "zhangsan")
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("yw_console="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie and "Secure" not in cookie
    _, wrong = attempt(base, "zhangsan", "nope")
    _, unknown = attempt(base, "nobody", "nope")
    assert wrong.status_code == unknown.status_code == 401
    said = [re.search(r'id="problem"[^>]*>([^<]+)<', x.text).group(1) for x in (wrong, unknown)]
    assert said[0] == said[1]  # no user enumeration
    assert httpx.get(f"{base}/console").status_code == 303  # no session: to the sign-in page
    for target in ("//evil.example/x", "/console/\\evil.example", "https://evil.example/console"):
        _, evil = attempt(base, "zhangsan", next=target)
        assert evil.headers["location"] == "/console"  # never redirected off the console
    # a sign-in posted by another site (no pre-session token, or a browser saying so) signs no one in
    forged = httpx.post(f"{base}/console/login", data={"username": "zhangsan", "password": PASSWORD, "next": "/console"})
    assert forged.status_code == 400 and "yw_console=" not in forged.headers.get("set-cookie", "")
    c = httpx.Client(base_url=base)
    token = re.search(r'name="login_csrf" value="([^"]+)"', c.get("/console/login").text).group(1)
    r = c.post(
        "/console/login",
        data={"username": "zhangsan", "password": PASSWORD, "next": "/console", "login_csrf": token},
        headers={"Origin": "null"},
    )
    assert r.status_code == 400


def test_the_board_the_task_and_a_return_recorded_under_the_user(world, console):
    base, _, _ = console
    c = sign_in(base, "zhangsan")
    home = c.get("/console")
    assert home.status_code == 200 and f"/console/p/{PROGRAMME}/2023" in home.text
    board = c.get(f"/console/p/{PROGRAMME}/2023")
    assert board.status_code == 200 and "迟交市市场监督管理局" in board.text
    assert re.search(r"逾期未报 <strong>3</strong>", board.text)
    only = c.get(f"/console/p/{PROGRAMME}/2023", params={"q": "迟交"})
    assert "迟交市市场监督管理局" in only.text and "准时市市场监督管理局" not in only.text
    tid = late_task(world)
    page = c.get(f"/console/task/{tid}")
    assert page.status_code == 200 and 'id="return"' in page.text and "the due date passed" in page.text
    token = csrf(page.text)
    # without the CSRF token: refused, nothing done
    r = c.post(f"/console/task/{tid}/exempt", data={"reason": "试试"})
    assert r.status_code == 403
    r = c.post(f"/console/task/{tid}/extend", data={"csrf": token, "to": "2023-12-30", "reason": "补充材料"})
    assert r.status_code == 409 and 'id="problem"' in r.text  # a Saturday: refused, said why …
    assert "2024-01-02" in r.text  # … and the next working day named
    r = c.post(f"/console/task/{tid}/extend", data={"csrf": token, "to": "2023-12-20", "reason": "补充材料"})
    assert r.status_code == 409 and "later" in r.text  # an extension never moves a date earlier or into the past
    for bad in ("2099-01-05", "not a date", "9999-99-99"):
        r = c.post(f"/console/task/{tid}/extend", data={"csrf": token, "to": bad, "reason": "补充材料"})
        assert r.status_code in (409, 422) and 'id="problem"' in r.text, bad  # a year without data, or no date
    long_reason = "补" * 2000  # the longest reason the form allows, 18 KB once urlencoded
    r = c.post(f"/console/task/{tid}/return", data={"csrf": token, "reason": long_reason})
    assert r.status_code == 409 and "未办理" in r.text  # read whole (not taken for a CSRF failure); nothing to return yet
    for path in (f"/console/task/{10**30}", "/console/task/0", f"/console/p/{PROGRAMME}/{10**30}", "/console/task/abc"):
        r = c.get(path)
        assert r.status_code == 404 and "没有这个页面" in r.text  # a Chinese page, never a 500

    r = c.post(f"/console/task/{tid}/extend", data={"csrf": token, "to": "2024-01-05", "reason": "补充材料"})
    assert r.status_code == 303 and "done=extend" in r.headers["location"]
    with ledger(world) as s:
        task = s.get(Task, tid)
        assert str(task.due) == "2024-01-05" and task.state == "open"
        rows = list(s.scalars(select(StatusChange).where(StatusChange.task_id == tid).order_by(StatusChange.id)))
        mine = [r for r in rows if r.actor == "zhangsan"]
        assert mine and any("补充材料" in (r.reason or "") for r in mine) and rows[-1].actor == "zhangsan"
    assert eventually(
        lambda: any("截止日期调整" in m["Subject"] and m["To"] == "office@late.example.gov.cn" for m in world.smtp.messages)
    )
    page = c.get(f"/console/task/{tid}")
    assert "zhangsan" in page.text and "截止日期调整" in page.text  # the audit trail and the message sent


def test_a_viewer_sees_everything_and_can_act_on_nothing(world, console):
    base, _, _ = console
    c = sign_in(base, "leader")
    tid = late_task(world)
    page = c.get(f"/console/task/{tid}")
    assert page.status_code == 200 and 'id="actions"' not in page.text
    token = csrf(page.text)  # the viewer's own valid token (from the sign-out form)
    for action in ("accept", "return", "extend", "exempt"):
        r = c.post(f"/console/task/{tid}/{action}", data={"csrf": token, "reason": "x", "to": "2024-01-05"})
        assert r.status_code == 403 and "只能查看" in r.text
    for what in ("remind", "extend"):
        r = c.post(f"/console/p/{PROGRAMME}/2023/m/results-submitted/{what}", data={"csrf": token, "days": "3", "reason": "x"})
        assert r.status_code == 403
    with ledger(world) as s:
        assert not list(s.scalars(select(StatusChange).where(StatusChange.actor == "leader")))


def test_a_coordinator_of_another_programme_sees_nothing_of_this_one(world, console):
    base, _, _ = console
    c = sign_in(base, "other")
    assert f"/console/p/{PROGRAMME}/2023" not in c.get("/console").text
    assert c.get(f"/console/p/{PROGRAMME}/2023").status_code == 404
    assert c.get(f"/console/task/{late_task(world)}").status_code == 404


def test_a_bureaus_link_opens_no_console_page(world, console):
    base, _, _ = console
    token = link(world, "late-city")
    for headers in ({"Authorization": f"Bearer {token}"}, {"Cookie": f"yw_console={token}"}):
        r = httpx.get(f"{base}/console/task/{late_task(world)}", headers=headers)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_a_disabled_users_session_stops_working(console):
    from yearwheel import accounts as A

    base, _, sessions = console
    c = sign_in(base, "zhangsan")
    assert c.get("/console").status_code == 200
    A.set_disabled(sessions, "zhangsan")
    assert c.get("/console").status_code == 303
    assert attempt(base, "zhangsan")[1].status_code == 401


def test_ten_wrong_passwords_lock_the_account_for_a_while(console):
    import datetime as dt

    base, clock, _ = console
    for _ in range(10):
        assert attempt(base, "zhangsan", "wrong")[1].status_code == 401
    assert attempt(base, "zhangsan")[1].status_code == 401  # locked: even the right password
    clock.at += dt.timedelta(minutes=16)
    assert sign_in(base, "zhangsan").get("/console").status_code == 200


def test_bulk_extension_shows_the_date_first_and_reminders_go_once_a_day(world, console):
    base, _, _ = console
    c = sign_in(base, "zhangsan")
    page = c.get(f"/console/p/{PROGRAMME}/2023/m/results-submitted", params={"days": "3"})
    # 3 working days after Wednesday 2023-12-27: Thursday, Friday, then New Year's Day is off — Tuesday 2024-01-02
    assert re.search(r'id="preview">新截止日期：<strong>2024-01-02</strong>', page.text)
    token = csrf(page.text)
    r = c.post(
        f"/console/p/{PROGRAMME}/2023/m/results-submitted/extend",
        data={"csrf": token, "days": "3", "reason": "年底集中报送", "confirm": "2023-12-29"},  # not the date shown
    )
    assert r.status_code == 303 and "days=3" in r.headers["location"]
    with ledger(world) as s:
        assert {str(t.due) for t in s.scalars(tasks_of(2023))} == {"2023-12-25"}  # nothing applied
    r = c.post(
        f"/console/p/{PROGRAMME}/2023/m/results-submitted/extend",
        data={"csrf": token, "days": "3", "reason": "年底集中报送", "confirm": "2024-01-02"},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?done=extend")
    assert "已延期" in c.get(r.headers["location"]).text
    with ledger(world) as s:
        assert {str(t.due) for t in s.scalars(tasks_of(2023))} == {"2024-01-02"}
        assert {a for a in s.scalars(select(StatusChange.actor).where(StatusChange.reason.like("extension%")))} == {"zhangsan"}
    for _ in range(2):  # asked twice the same day: one reminder per bureau
        r = c.post(f"/console/p/{PROGRAMME}/2023/m/results-submitted/remind", data={"csrf": token})
        assert r.status_code == 303
    with ledger(world) as s:
        manual = list(s.scalars(select(OutboxMessage).where(OutboxMessage.step.like("reminded@%"))))
    assert len(manual) == 3 and len({m.recipient for m in manual}) == 3

    def sent() -> bool:
        with ledger(world) as s:
            return {m.state for m in s.scalars(select(OutboxMessage).where(OutboxMessage.step.like("reminded@%")))} == {"sent"}

    assert eventually(sent)  # through the outbox, rendered for the new date
    reminded = [
        m for m in world.smtp.messages if "2024年1月2日" in m.get_body().get_content() and "截止日期调整" not in m["Subject"]
    ]
    assert len(reminded) == 3


def test_the_api_takes_a_users_own_token_and_its_role(world, console):
    """A viewer's token and a token for another programme are refused; a coordinator's
    token acts, recorded under that user; a revoked token stops at once."""
    from yearwheel import accounts as A

    base, clock, sessions = console
    body = {
        "programme": PROGRAMME,
        "year": 2023,
        "milestone": "results-submitted",
        "participant": "late-city",
        "reason": "并入他市",
    }
    _, viewer = A.new_token(sessions, "leader", "dashboard", now=clock())
    _, other = A.new_token(sessions, "other", "script", now=clock())
    token_id, mine = A.new_token(sessions, "zhangsan", "script", now=clock())
    for token in (viewer, other):
        r = httpx.post(f"{base}/api/coordinator/exempt", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and "may not act" in r.json()["error"]
    r = httpx.post(f"{base}/api/coordinator/exempt", json=body, headers={"Authorization": f"Bearer {mine}"})
    assert r.status_code == 200, r.text
    with ledger(world) as s:
        assert s.scalars(select(StatusChange).where(StatusChange.reason == "并入他市")).one().actor == "zhangsan"
    A.revoke_token(sessions, token_id, now=clock())
    r = httpx.post(f"{base}/api/coordinator/accept", json=body, headers={"Authorization": f"Bearer {mine}"})
    assert r.status_code == 403


def test_users_on_the_command_line(cli, world, monkeypatch):
    from typer.testing import CliRunner

    from yearwheel.cli import build_app

    world.advance("2023-12-01T09:00")  # a migrated ledger
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    run = CliRunner().invoke
    app = build_app()
    r = run(
        app,
        ["users", "add", "wangwu", "--role", "coordinator", "--name", "王五", "--programme", PROGRAMME, "--password-stdin"],
        input="short\n",
    )
    assert r.exit_code == 1 and "至少 10 个字符" in r.stderr
    r = run(
        app,
        ["users", "add", "wangwu", "--role", "coordinator", "--name", "王五", "--programme", PROGRAMME, "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0 and "added wangwu" in r.stdout
    r = run(app, ["users", "add", "wangwu", "--role", "viewer", "--programme", "*", "--password-stdin"], input=PASSWORD + "\n")
    assert r.exit_code == 1 and "already exists" in r.stderr
    r = run(app, ["users", "add", "nobody", "--role", "boss", "--password-stdin"], input=PASSWORD + "\n")
    assert r.exit_code == 1 and "coordinator, viewer, admin" in r.stderr
    r = cli("users", "token", "wangwu", "--name", "nightly")
    assert r.exit_code == 0 and r.stdout.strip().startswith("yw_") and "shown only now" in r.stderr
    assert cli("users", "disable", "wangwu").exit_code == 0
    listed = cli("users", "list")
    assert "wangwu\tcoordinator\t王五" in listed.stdout and "(disabled)" in listed.stdout
    assert PASSWORD not in listed.stdout and "argon2" not in cli("users", "list", "--json").stdout
    r = run(app, ["users", "reset-password", "wangwu", "--password-stdin"], input="another long password\n")
    assert r.exit_code == 0
    assert cli("users", "revoke-token", "999").exit_code == 1


def test_behind_a_trusted_proxy_the_client_and_https_are_the_proxys_word(world, tmp_path):
    """From a trusted proxy, X-Forwarded-For names the client (so one client's guesses do
    not throttle everyone behind nginx) and X-Forwarded-Proto: https makes the cookie Secure;
    from anyone else both headers are ignored."""
    world.advance("2023-12-01T09:00")
    engine, _ = users(world)
    with serve(world, Clock(at("2023-12-27T10:00")), tmp_path, trusted_proxies=frozenset({"127.0.0.1"})) as (base, _):
        c = httpx.Client(base_url=base)
        token = re.search(r'name="login_csrf" value="([^"]+)"', c.get("/console/login").text).group(1)
        forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        r = c.post(
            "/console/login",
            data={"username": "zhangsan", "password": PASSWORD, "next": "/console", "login_csrf": token},
            headers=forwarded,
            follow_redirects=False,
        )
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("yw_console="))
        assert r.status_code == 303 and "Secure" in cookie
        # thirty wrong guesses from one client behind the proxy: that client is throttled, another is not
        for _ in range(30):
            attempt_from(base, "leader", "wrong", {"X-Forwarded-For": "203.0.113.66"})
        assert attempt_from(base, "zhangsan", PASSWORD, {"X-Forwarded-For": "203.0.113.66"}).status_code == 401
        assert attempt_from(base, "zhangsan", PASSWORD, {"X-Forwarded-For": "203.0.113.8"}).status_code == 303
    engine.dispose()


def attempt_from(base: str, username: str, password: str, headers: dict) -> httpx.Response:
    c = httpx.Client(base_url=base, follow_redirects=False)
    token = re.search(r'name="login_csrf" value="([^"]+)"', c.get("/console/login").text).group(1)
    return c.post(
        "/console/login",
        data={"username": username, "password": password, "next": "/console", "login_csrf": token},
        headers=headers,
    )


def test_the_outbox_page_shows_only_the_users_programmes(world, console):
    from models.tables import OutboxMessage as O

    base, _, _ = console
    with ledger(world) as s:  # a target alert of another programme that failed (no task: only its programme says whose)
        s.add(
            O(
                key="k-other",
                programme="another-programme",
                kind="target_behind",
                step="s",
                recipient="province",
                audience="self",
                channel="email",
                address="a1",
                subject="",
                body="",
                state="dead",
                attempts=1,
                last_error="550 no such user other@x",
                not_before=at("2023-12-27T09:00"),
                created_at=at("2023-12-27T09:00"),
                due_at=at("2023-12-27T09:00"),
            )
        )
        s.commit()
    assert "other@x" in sign_in(base, "other").get("/console/outbox").text
    assert "other@x" not in sign_in(base, "zhangsan").get("/console/outbox").text


def test_versions_side_by_side_and_evidence_only_for_those_who_may_see_it(world, console):
    from tests.web.test_web import GOOD, PDF

    base, _, _ = console
    world.smtp.defer.clear()
    # the bureau answers through its link (late, after the deadline), then corrects one figure
    token = link(world, "late-city")
    r = httpx.post(f"{base}/t/{token}", data=GOOD, files={"evidence": ("走访记录.pdf", PDF, "application/pdf")})
    assert r.status_code == 200, r.text
    assert httpx.post(f"{base}/t/{token}", data=GOOD | {"f.enterprises_served": "13"}).status_code == 200
    c = sign_in(base, "zhangsan")
    page = c.get(f"/console/task/{late_task(world)}").text
    table = page[page.index('id="versions"') : page.index("</table>", page.index('id="versions"'))]
    assert table.index("第2版") < table.index("第1版")  # the newest first, side by side
    assert re.search(r"服务企业数</td><td class=\"changed\">13</td><td>12</td>", table)  # the change marked
    assert re.search(r"工作总结</td><td>全年走访企业12家</td><td>全年走访企业12家</td>", table)  # unchanged, not marked
    href = re.search(r'href="(/console/task/\d+/file/[0-9a-f]{64})"', table).group(1)
    assert c.get(href).content == PDF
    assert sign_in(base, "leader").get(href).content == PDF  # a viewer may read it
    assert sign_in(base, "other").get(href).status_code == 404  # another programme's coordinator may not
    assert httpx.get(f"{base}{href}", follow_redirects=False).status_code == 303  # nor anyone signed out
    assert c.get(href[:-64] + "0" * 64).status_code == 404


def test_the_board_says_where_next_years_working_days_stand(world, console):
    base, clock, _ = console
    page = sign_in(base, "zhangsan").get(f"/console/p/{PROGRAMME}/2023").text
    assert re.search(r'id="workdays">工作日数据：2023年 正式（chinese-calendar [0-9.]+） · 2024年 正式', page)
    assert 'id="workday-warning"' not in page  # 2024 is known
