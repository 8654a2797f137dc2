"""The ops path end to end, as the README walks it: a real `prefect server start` on
loopback backed by PostgreSQL, a process work pool, `prefect deploy --all` from the
repository, a worker, a run of the `advance` deployment — then the artifacts a
coordinator reads, checked through the API and in the UI in headless Chromium."""

from __future__ import annotations

import json

import pytest

from tests.dashboard.conftest import REPO, _api
from tests.engine.conftest import PROGRAMME, World, coordinator, submit


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_deploy_run_advance_and_read_the_artifacts(tmp_path, database_url, smtp_server, prefect_server, visit):
    (tmp_path / "world").mkdir()
    world = World(tmp_path / "world", database_url, smtp_server)
    world.advance("2023-12-01T09:00")
    submit(world, "2023-12-20T10:00", "punctual-city", {"enterprises_served": 12, "summary": "按期完成"})
    coordinator(world, "exempt", "2023-12-21T10:00", "exempt-city", reason="机构改革")
    sent_before = len(smtp_server.messages)

    server = prefect_server
    server.cli("work-pool", "create", "yearwheel", "--type", "process")
    out = server.cli("--no-prompt", "deploy", "--all", env={"PWD": str(REPO)})
    for name in ("advance-jilin-quality-2022-2024", "rollup-nightly", "open-milestone-manual", "chase-manual", "simulate-manual"):
        assert f"Deployment '{name.split('-')[0].replace('open', 'open_milestone')}/{name}' successfully created" in " ".join(
            out.split()
        )
    deployments = {d["name"]: d for d in _api(server.api + "/deployments/filter", {})}
    # one advance deployment per calendar, each with its programme, tags and own slot
    calendars = sorted(p.stem for p in (REPO / "calendar").glob("*.yaml"))
    advances = {n: d for n, d in deployments.items() if n.startswith("advance-")}
    assert sorted(n.removeprefix("advance-") for n in advances) == calendars
    for n, d in advances.items():
        programme = n.removeprefix("advance-")
        assert d["parameters"] == {"programme": programme} and f"programme:{programme}" in d["tags"]
        assert d["global_concurrency_limit"]["limit"] == 1
    hourly = deployments["advance-jilin-quality-2022-2024"]
    assert hourly["schedules"][0]["schedule"] == {"cron": "0 8-18 * * *", "timezone": "Asia/Shanghai", "day_or": True}
    assert hourly["global_concurrency_limit"]["limit"] == 1
    assert hourly["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]
    assert deployments["rollup-nightly"]["schedules"][0]["schedule"]["cron"] == "30 22 * * *"
    form = hourly["parameter_openapi_schema"]["properties"]
    assert form["at"]["anyOf"][0] == {"format": "date-time", "type": "string"} and "Asia/Shanghai" in form["at"]["description"]

    # what the UI's "Run ▸ Custom run" does: a flow run of the deployment with parameters
    params = {
        "at": "2023-12-28T09:00:00+08:00",
        "programme": PROGRAMME,
        "calendar_dir": str(world.calendar_dir),
        "contacts": str(world.contacts),
    }
    run = _api(server.api + f"/deployments/{hourly['id']}/create_flow_run", {"parameters": params})
    reports = tmp_path / "reports"
    server.cli(
        "worker",
        "start",
        "--pool",
        "yearwheel",
        "--run-once",
        env={"YEARWHEEL_DATABASE_URL": database_url, "YEARWHEEL_REPORT_DIR": str(reports)},
        timeout=300,
    )
    done = _api(server.api + f"/flow_runs/{run['id']}")
    assert done["state_type"] == "COMPLETED", done["state"]
    assert done["name"] == f"advance {PROGRAMME} as of 2023-12-28 09:00"
    # late-city's chasers and its head's escalation went out through the real SMTP server
    assert len(smtp_server.messages) > sent_before

    # the artifacts, by key
    latest = {a["key"]: a for a in _api(server.api + "/artifacts/latest/filter", {})}
    assert set(latest) == {
        "status-engine-demo-2023",
        "advance-engine-demo",
        "report-engine-demo-2023",
        "progress-engine-demo-2023-results-submitted",
    }, set(latest)
    # late-city still owes it: the milestone is open, 1 of the 2 owed (one exempted) submitted
    assert float(latest["progress-engine-demo-2023-results-submitted"]["data"]) == 50.0
    status = latest["status-engine-demo-2023"]
    rows = json.loads(status["data"]) if isinstance(status["data"], str) else status["data"]
    assert rows == [
        {"单位": "准时市市场监督管理局", "#1": "✅"},
        {"单位": "迟交市市场监督管理局", "#1": "🔴"},
        {"单位": "免报市市场监督管理局", "#1": "➖"},
    ]
    summary = latest["advance-engine-demo"]["data"]
    assert "标记逾期 **1**" in summary and "逾期未报 1" in summary
    report = reports / "engine-demo-2023.html"
    assert report.exists() and report.as_uri() in summary

    again = world.advance("2023-12-28T09:00")  # the same instant again: nothing new
    assert again.dispatch.sent == 0

    # in the browser: the table artifact and the summary, as a coordinator sees them
    v = visit(f"{server.ui}/artifacts/artifact/{status['latest_id']}", ignore=("/favicon.ico",))
    v.page.get_by_text("迟交市市场监督管理局").wait_for(timeout=30_000)
    body = v.page.inner_text("body")
    assert "准时市市场监督管理局" in body and "逾期未报 1" in body and "🔴" in body
    assert v.errors == []
    shot1 = v.screenshot("prefect-ui-status-matrix.png")
    v = visit(f"{server.ui}/artifacts/artifact/{latest['advance-engine-demo']['latest_id']}", ignore=("/favicon.ico",))
    v.page.get_by_text("发送成功").wait_for(timeout=30_000)
    assert "年度报告（HTML）" in v.page.inner_text("body")
    assert v.errors == []
    shot2 = v.screenshot("prefect-ui-advance-summary.png")
    v = visit(f"{server.ui}/runs/flow-run/{run['id']}", ignore=("/favicon.ico",))
    v.page.get_by_text(f"advance {PROGRAMME} as of 2023-12-28 09:00").first.wait_for(timeout=30_000)
    shot3 = v.screenshot("prefect-ui-flow-run.png")
    # the Event Feed filtered by one bureau: the live activity log of late-city, its overdue
    # mark and its chaser, named in Chinese — and nothing of the other cities
    late = f"yearwheel.participant.{PROGRAMME}.late-city"
    events = _api(server.api + "/events/filter", {"filter": {"any_resource": {"id_prefix": [late]}}, "limit": 50})["events"]
    assert {"yearwheel.task.overdue", "yearwheel.delivery.sent"} <= {e["event"] for e in events}
    v = visit(f"{server.ui}/events?resource={late}", ignore=("/favicon.ico",))
    v.page.get_by_text("yearwheel.task.overdue").first.wait_for(timeout=30_000)
    feed = v.page.inner_text("body")
    assert "yearwheel.delivery.sent" in feed and late in feed
    assert f"yearwheel.participant.{PROGRAMME}.punctual-city" not in feed and f"{PROGRAMME}.exempt-city" not in feed
    assert v.errors == []
    shot4 = v.screenshot("prefect-ui-event-feed-late-city.png")
    # one event opened: the feed shows resource ids; the event's raw view has the Chinese names
    v.page.get_by_text("Yearwheel task overdue").first.click()
    v.page.get_by_text("Raw", exact=True).first.click()
    v.page.get_by_text("迟交市市场监督管理局：提交年度提升成效表").first.wait_for(timeout=30_000)
    raw = v.page.inner_text("body")
    assert '"yearwheel.label": "逾期"' in raw and "测试省市场监管厅" not in raw.split('"related"')[0]
    shot5 = v.screenshot("prefect-ui-event-late-city-raw.png")
    assert all(p.stat().st_size > 10_000 for p in (shot1, shot2, shot3, shot4, shot5))
    world.close()
