"""The web intake over real HTTP: a uvicorn server on loopback, requests with httpx, the
ledger on SQLite and PostgreSQL, acknowledgements through the loopback SMTP server."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from contextlib import contextmanager
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import func, select

from models import links
from models.tables import StatusChange, Submission, Task
from tests.engine.conftest import PROGRAMME, World, ledger, tasks_of
from tests.web.test_uploads import make_pdf
from tests.pg import free_port

pytestmark = pytest.mark.slow  # a real uvicorn server per test

SECRET = b"s" * 40
COORDINATOR = "yw_coordinator-token-for-tests-0123456789"  # the API token of the user "zhangsan"
PDF = make_pdf()  # a real, minimal PDF (structure checked by yearwheel.web.uploads)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@contextmanager
def serve(world: World, clock: Clock, tmp_path, port: int | None = None, **overrides):
    import uvicorn

    from yearwheel.web.app import WebSettings, create_app

    settings = WebSettings(SECRET, tmp_path / "attachments", clock=clock, **overrides)
    rt = world.runtime()
    api_user(rt)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(rt, settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "intake server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def api_user(rt) -> None:
    """A coordinator of every programme whose API token is ``COORDINATOR`` (made once)."""
    from yearwheel import accounts as A
    from models.tables import ApiToken, User

    with rt.sessions.begin() as s:
        if s.scalar(select(User.id).where(User.username == "zhangsan")) is not None:
            return
    user = A.add_user(
        rt.sessions, "zhangsan", role="coordinator", password="a long test password", programmes=["*"], now=at("2023-01-01T00:00")
    )
    with rt.sessions.begin() as s:
        s.add(ApiToken(user_id=user.id, token_hash=A.digest(COORDINATOR), name="tests", created_at=at("2023-01-01T00:00")))


def revoked_token(world: World) -> str:
    """A token of zhangsan's, made and then revoked."""
    from yearwheel import accounts as A
    from yearwheel.runtime import open_database

    engine, sessions = open_database(world.database_url)
    try:
        token_id, value = A.new_token(sessions, "zhangsan", "old script", now=at("2023-06-01T00:00"))
        A.revoke_token(sessions, token_id, now=at("2023-06-02T00:00"))
        return value
    finally:
        engine.dispose()


def at(text: str) -> dt.datetime:
    from models.timeline import TZ

    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


def task_id(world: World, participant: str) -> int:
    with ledger(world) as s:
        return s.scalar(tasks_of(2023, participant).with_only_columns(Task.id))


def link(world: World, participant: str, *, expires: str = "2024-03-01T00:00", purpose: str = links.SUBMIT) -> str:
    return links.sign(SECRET, task_id(world, participant), participant, at(expires), purpose)


GOOD = {"f.enterprises_served": "12", "f.summary": "全年走访企业12家", "f.inspected": "", "f.passed": ""}


@pytest.fixture
def intake(world, tmp_path):
    world.advance("2023-12-01T09:00")
    clock = Clock(at("2023-12-10T10:00"))
    with serve(world, clock, tmp_path) as (base, settings):
        yield base, clock, settings


def test_the_form_shows_the_task_and_a_submission_closes_it(world, intake):
    base, clock, settings = intake
    token = link(world, "punctual-city")
    page = httpx.get(f"{base}/t/{token}")
    assert page.status_code == 200
    assert "准时市市场监督管理局" in page.text and "2023年12月25日（星期一）" in page.text and "服务企业数" in page.text
    r = httpx.post(f"{base}/t/{token}", data=GOOD, files={"evidence": ("证明.pdf", PDF, "application/pdf")})
    assert r.status_code == 200, r.text
    assert re.search(r'id="version">1<', r.text)
    with ledger(world) as s:
        task = s.scalars(tasks_of(2023, "punctual-city")).one()
        (sub,) = s.scalars(select(Submission))
        assert (task.state, task.on_time) == ("submitted", True)
        assert sub.payload == {"enterprises_served": 12, "summary": "全年走访企业12家"}
        assert sub.actor == "punctual-city (web form)" and sub.source.startswith("web intake from 127.0.0.1")
        (att,) = sub.attachments
        assert att["name"] == "证明.pdf" and att["content_type"] == "application/pdf" and att["size"] == len(PDF)
    assert (settings.attachment_dir / str(task.id) / att["sha256"]).read_bytes() == PDF
    assert world.smtp.wait_for(4)  # 3 opening notices + the acknowledgement
    assert world.smtp.messages[-1]["To"] == "office@punctual.example.gov.cn"

    # a correction before acceptance: version 2; after acceptance: refused
    r = httpx.post(f"{base}/t/{token}", data=GOOD | {"f.enterprises_served": "13"})
    assert r.status_code == 200 and re.search(r'id="version">2<', r.text)
    r = httpx.post(
        f"{base}/api/coordinator/accept",
        headers={"Authorization": f"Bearer {COORDINATOR}"},
        json={
            "programme": PROGRAMME,
            "year": 2023,
            "milestone": "results-submitted",
            "participant": "punctual-city",
            "actor": "质量发展处 张三",
            "reason": "材料齐全",
        },
    )
    assert r.status_code == 200 and r.json()["action"] == "accepted version 2", r.text
    r = httpx.post(f"{base}/t/{token}", data=GOOD)
    assert r.status_code == 409 and "审核通过" in r.text
    assert "审核通过" in httpx.get(f"{base}/t/{token}").text
    with ledger(world) as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 2
        acc = s.scalars(select(StatusChange).where(StatusChange.reason.like("accepted%"))).one()
        # recorded under the token's user, whatever the body's "actor" says
        assert acc.actor == "zhangsan" and acc.reason == "accepted version 2: 材料齐全"


def test_field_problems_come_back_in_chinese_escaped_and_nothing_is_stored(world, intake):
    base, _, _ = intake
    token = link(world, "late-city")
    script = "<script>alert('x')</script>"
    r = httpx.post(f"{base}/t/{token}", data={"f.enterprises_served": "十二", "f.summary": script, "f.inspected": "-1"})
    assert r.status_code == 422
    assert "应填写整数，实际为 “十二”" in r.text and "抽检批次：应填写整数（≥ 0），实际为 -1" in r.text
    assert script not in r.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in r.text  # echoed back, escaped
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    # a valid form whose text holds markup is stored as text and shown escaped
    r = httpx.post(f"{base}/t/{token}", data=GOOD | {"f.summary": script})
    assert r.status_code == 200
    with ledger(world) as s:
        assert s.scalars(select(Submission.payload)).one()["summary"] == script
    with ledger(world) as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 1


def test_bad_links_get_the_same_403_and_reveal_nothing(world, intake):
    base, clock, _ = intake
    good = link(world, "punctual-city")
    claims, mac = good.split(".")
    other_task = link(world, "late-city").split(".")[0]
    cases = {
        "tampered signature": f"{claims}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",
        "another task's claims with this signature": f"{other_task}.{mac}",
        "expired": link(world, "punctual-city", expires="2023-12-10T09:59"),
        "other purpose": link(world, "punctual-city", purpose="download"),
        "signed with another secret": links.sign(
            b"t" * 40, task_id(world, "punctual-city"), "punctual-city", at("2024-01-01T00:00")
        ),
        "garbage": "not-a-token",
        "empty claims": f".{mac}",
        "a task that does not exist": links.sign(SECRET, 999_999, "punctual-city", at("2024-01-01T00:00")),
        "participant mismatch": links.sign(SECRET, task_id(world, "late-city"), "punctual-city", at("2024-01-01T00:00")),
    }
    bodies = set()
    for why, token in cases.items():
        for method in ("GET", "POST"):
            r = httpx.request(method, f"{base}/t/{token}", data=GOOD if method == "POST" else None)
            assert r.status_code == 403, (why, method, r.status_code)
            assert "准时市" not in r.text and "迟交市" not in r.text and "results" not in r.text, why
            bodies.add(r.text)
    assert len(bodies) == 1  # the same page whatever went wrong
    with ledger(world) as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0


def test_size_type_and_rate_limits(world, tmp_path):
    world.advance("2023-12-01T09:00")
    with serve(world, Clock(at("2023-12-10T10:00")), tmp_path, max_body=200_000, max_file=50_000, rate=5) as (base, _):
        token = link(world, "late-city")
        # an oversized body, refused before it is read
        r = httpx.post(f"{base}/t/{token}", data=GOOD, files={"evidence": ("big.pdf", PDF + b"0" * 300_000, "application/pdf")})
        assert r.status_code == 413
        # a file over the per-file limit, and files whose content is not what they claim
        for name, data, ctype, why in [
            ("big.pdf", PDF + b"0" * 60_000, "application/pdf", "超过"),
            ("x.pdf", b"MZ\x90\x00 an executable", "application/pdf", "可执行程序"),
            ("page.html", b"<html><script>alert(1)</script>", "text/html", "不予接收"),
        ]:
            r = httpx.post(f"{base}/t/{token}", data=GOOD, files={"evidence": (name, data, ctype)})
            assert r.status_code == 422 and why in r.text, (name, r.status_code)
        # a body that is not a form
        r = httpx.post(f"{base}/t/{token}", content=b'{"f.summary": "x"}', headers={"content-type": "application/json"})
        assert r.status_code == 415
        with ledger(world) as s:
            assert s.scalar(select(func.count()).select_from(Submission)) == 0
        # four requests reached the link (the 413 was refused before); the fifth is the last
        assert httpx.get(f"{base}/t/{token}").status_code == 200
        r = httpx.get(f"{base}/t/{token}")
        assert r.status_code == 429  # for this link only:
        assert httpx.get(f"{base}/t/{link(world, 'punctual-city')}").status_code == 200


def test_coordinator_actions_need_their_own_token(world, intake):
    base, _, _ = intake
    body = {
        "programme": PROGRAMME,
        "year": 2023,
        "milestone": "results-submitted",
        "participant": "late-city",
        "actor": "质量发展处 李四",
        "reason": "机构调整",
        "to": "2024-01-10",
    }
    token = link(world, "late-city")
    revoked = revoked_token(world)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {token}"},  # a bureau's link is not a coordinator's token
        {"Authorization": COORDINATOR},
        {"Authorization": f"Bearer {revoked}"},
    ):
        assert httpx.post(f"{base}/api/coordinator/extend", json=body, headers=headers).status_code == 403
    auth = {"Authorization": f"Bearer {COORDINATOR}"}
    r = httpx.post(f"{base}/api/coordinator/extend", json=body, headers=auth)
    assert r.status_code == 200 and r.json()["due"] == "2024-01-10"
    r = httpx.post(f"{base}/api/coordinator/return", json=body, headers=auth)
    assert r.status_code == 409  # nothing submitted to return
    r = httpx.post(f"{base}/api/coordinator/exempt", json=body | {"participant": "nobody"}, headers=auth)
    assert r.status_code == 404 and "'nobody' is not an assignee" in r.json()["error"]
    r = httpx.post(f"{base}/api/coordinator/exempt", json={"programme": PROGRAMME}, headers=auth)
    assert r.status_code == 422
    r = httpx.post(f"{base}/api/coordinator/exempt", json=body | {"participant": "exempt-city"}, headers=auth)
    assert r.status_code == 200 and r.json()["state"] == "exempted"
    with ledger(world) as s:
        assert not s.scalars(select(StatusChange).where(StatusChange.actor == "质量发展处 李四")).all()  # typed text ignored
        rows = s.scalars(select(StatusChange).where(StatusChange.actor == "zhangsan")).all()
        assert {r.reason for r in rows} >= {"extension: due 2023-12-25 → 2024-01-10: 机构调整", "机构调整"}
    # the exempted bureau's link now says there is nothing to do
    assert "已豁免" in httpx.get(f"{base}/t/{link(world, 'exempt-city')}").text


def test_reminders_carry_a_working_link(world, tmp_path, monkeypatch):
    """With $YEARWHEEL_INTAKE_URL and $YEARWHEEL_LINK_SECRET set, the bureau's own reminder
    emails carry its link; escalations to heads do not."""
    monkeypatch.setenv("YEARWHEEL_LINK_SECRET", SECRET.decode())
    monkeypatch.setenv("YEARWHEEL_INTAKE_URL", "http://intake.example.gov.cn/")
    world.advance("2023-12-01T09:00")
    world.advance("2023-12-29T09:00")  # late-city is late: chasers and its head's escalation
    found = {}
    for m in world.smtp.messages:
        text = m.get_body(("plain",)).get_content() if isinstance(m, EmailMessage) else str(m)
        hit = re.search(r"在线填报：(http://intake\.example\.gov\.cn/t/(\S+))", text)
        found.setdefault(m["To"], []).append(hit.group(2) if hit else None)
    assert all(found["office@late.example.gov.cn"]) and found["head@late.example.gov.cn"] == [None]
    claims = links.verify(SECRET, found["office@late.example.gov.cn"][0], now=at("2023-12-29T10:00"))
    assert claims.participant == "late-city" and claims.task_id == task_id(world, "late-city")
    assert claims.expires.date() == dt.date(2024, 2, 23)  # due 2023-12-25 + 60 days
