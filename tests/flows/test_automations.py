"""The Automations shipped in deploy/automations.yaml, applied by `yearwheel prefect apply`
to a real Prefect server (idempotently), fire: a message given up → the ops channel is
told (a real HTTP server standing for the ops chat's webhook); two advance runs failing →
told again. Only the chat service's public endpoint is stood in for."""

from __future__ import annotations

import time

import pytest

from tests.engine.conftest import PROGRAMME, World, at
from tests.sinks import HttpSink
from yearwheel import usecases as R


def webhook_block(sink: HttpSink, block: str, path: str) -> None:
    """A custom-webhook notification block named ``block`` posting to ``sink``'s ``path``."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    CustomWebhookNotificationBlock(
        name=path, url=f"{sink.url}/{path}", json_data={"subject": "{{subject}}", "body": "{{body}}"}, allow_private_urls=True
    ).save(block, overwrite=True)


@pytest.fixture
def ops(prefect_server):
    """The ops channel: a webhook block pointing at a loopback HTTP server."""
    with HttpSink() as sink:
        webhook_block(sink, "yearwheel-ops", "ops")
        yield sink
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as c:  # the next tests' dead messages tell nobody
        for a in c.read_automations():
            if a.name.startswith("yearwheel:"):
                c.delete_automation(a.id)


def told(sink: HttpSink, words: str, timeout: float = 90) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [r for r in sink.requests if r.json and words in (r.json.get("subject") or "")]
        if got:
            return got
        time.sleep(0.5)
    return []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the ledger is not what is tested here
def test_apply_is_idempotent_and_the_automations_fire(cli, tmp_path, database_url, smtp_server, ops):
    from prefect.events.worker import EventsWorker

    r = cli("prefect", "apply", "--ops-block", "custom-webhook/yearwheel-ops")
    assert r.exit_code == 0, r.stderr
    # the shipped calendars: Jilin's sets an overdue alert, and no coordinator block is given
    assert sorted(line.split()[0] for line in r.stdout.splitlines()) == ["created", "created", "skipped"]
    r = cli("prefect", "apply", "--ops-block", "custom-webhook/yearwheel-ops")
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["unchanged", "unchanged", "skipped"]
    from flows.automations import AUTOMATIONS

    edited = tmp_path / "automations.yaml"
    edited.write_text(AUTOMATIONS.read_text(encoding="utf-8").replace("请查看 Prefect", "请立即查看 Prefect"), encoding="utf-8")
    r = cli("prefect", "apply", "--ops-block", "custom-webhook/yearwheel-ops", "--file", edited)
    assert sorted(line.split()[0] for line in r.stdout.splitlines()) == ["skipped", "unchanged", "updated"]
    r = cli("prefect", "apply", "--ops-block", "custom-webhook/no-such-block")
    assert r.exit_code == 1 and "no Prefect block 'custom-webhook/no-such-block'" in r.stderr
    time.sleep(6)  # the server's triggers load the automations

    # a message given up: the late city's chaser is refused (550)
    w = World(tmp_path, database_url, smtp_server)
    try:
        w.advance("2023-12-18T09:00")
        smtp_server.reject.add("office@late.example.gov.cn")
        rt = R.open_runtime(
            calendar_dir=w.calendar_dir, programme=PROGRAMME, contacts=w.contacts, database=w.database_url, events=True
        )
        try:
            R.advance(rt, at("2023-12-27T09:00"))
        finally:
            rt.close()
        EventsWorker.drain_all(timeout=30)
        (dead,) = told(ops, "消息放弃发送")
        assert "迟交市市场监督管理局" in dead.json["subject"] and "550" in dead.json["body"]

        # two advance runs failing (an unknown programme): one notice, after the second
        from flows.advance import advance

        state = advance(programme="no-such-programme", calendar_dir=str(w.calendar_dir), return_state=True)
        assert state.is_failed()
        time.sleep(3)
        assert told(ops, "advance 连续两次失败", timeout=3) == []  # one failure is not two
        assert advance(programme="no-such-programme", calendar_dir=str(w.calendar_dir), return_state=True).is_failed()
        (twice,) = told(ops, "advance 连续两次失败")
        assert "最近一次失败" in twice.json["body"] and "请立即查看" in twice.json["body"]
    finally:
        w.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_overdue_count_reaching_the_calendars_threshold_tells_its_coordinator(cli, tmp_path, database_url, smtp_server, ops):
    from prefect.events.worker import EventsWorker

    from tests.engine.test_overdue_alert import calendar

    w = World(tmp_path, database_url, smtp_server, calendar=calendar(2))
    with HttpSink() as coordinator:
        webhook_block(coordinator, "yearwheel-coordinator", "coordinator")
        try:
            base = ["prefect", "apply", "--ops-block", "custom-webhook/yearwheel-ops", "--calendar-dir", w.calendar_dir]
            r = cli(*base)  # no block for the programme's coordinator: said, not guessed
            assert r.exit_code == 0, r.stderr
            assert (
                f"skipped    yearwheel: 逾期任务达到提醒阈值：{PROGRAMME}  (no --coordinator-block for {PROGRAMME})" in r.stdout
            )
            r = cli(*base, "--coordinator-block", "custom-webhook/yearwheel-coordinator=x")
            assert r.exit_code == 1 and "expected PROGRAMME=block-type-slug/block-name" in r.stderr
            r = cli(*base, "--coordinator-block", "other-programme=custom-webhook/yearwheel-coordinator")
            assert r.exit_code == 1 and "names no programme of the calendars: other-programme" in r.stderr
            r = cli(*base, "--coordinator-block", f"{PROGRAMME}=custom-webhook/yearwheel-coordinator")
            assert r.exit_code == 0, r.stderr
            assert f"created    yearwheel: 逾期任务达到提醒阈值：{PROGRAMME}" in r.stdout
            r = cli(*base, "--coordinator-block", "custom-webhook/yearwheel-coordinator")  # the same, for every programme
            assert f"unchanged  yearwheel: 逾期任务达到提醒阈值：{PROGRAMME}" in r.stdout
            time.sleep(6)  # the server's triggers load the automation

            def run(when: str) -> None:
                rt = R.open_runtime(
                    calendar_dir=w.calendar_dir, programme=PROGRAMME, contacts=w.contacts, database=w.database_url, events=True
                )
                try:
                    R.advance(rt, at(when))
                finally:
                    rt.close()
                EventsWorker.drain_all(timeout=30)

            run("2023-12-08T09:00")  # nobody late yet
            run("2023-12-11T09:00")  # three late: 0 → 3 crosses 2
            (notice,) = told(coordinator, "逾期任务达到提醒阈值")
            assert "测试省市场监管厅" not in notice.json["subject"]  # the programme year, not a bureau
            assert "（2023年度）" in notice.json["subject"]
            assert "逾期未报送的任务已达3项（提醒阈值2项，本次新增逾期3项）" in notice.json["body"]
            assert "请测试省市场监管厅督办" in notice.json["body"]
            run("2023-12-12T09:00")  # still three: told once
            time.sleep(5)
            assert len(told(coordinator, "逾期任务达到提醒阈值", timeout=1)) == 1
            assert told(ops, "逾期任务达到提醒阈值", timeout=1) == []  # the coordinator's, not ops'
        finally:
            w.close()
