"""The Prefect flows, run for real against one Prefect test server (``prefect_server`` in
this folder's conftest, entered once per test process)."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.engine.conftest import PROGRAMME, World, at


@pytest.fixture
def world(tmp_path, database_url, smtp_server, prefect_server):
    w = World(tmp_path, database_url, smtp_server)
    yield w
    w.close()


def test_advance_flow_is_idempotent_and_chase_and_rollup_run(world):
    from flows.advance import advance
    from flows.chase import chase
    from flows.open_milestone import open_milestone
    from flows.rollup import rollup

    common = {"calendar_dir": str(world.calendar_dir), "contacts": str(world.contacts)}
    first = advance(at=at("2023-12-01T09:00"), programme=PROGRAMME, **common)
    assert first["opened"] == 3 and first["dispatch"]["sent"] == 3
    second = advance(at=at("2023-12-01T09:00"), programme=PROGRAMME, **common)
    assert second["dispatch"]["sent"] == 0 and second["queued"] == {}

    chased = chase(programme=PROGRAMME, year=2023, at=at("2023-12-18T09:00"), **common)
    assert chased["queued"] == {"upcoming": 3} and chased["dispatch"]["sent"] == 3

    opened = open_milestone(programme=PROGRAMME, year=2023, milestone="results-submitted", at=at("2023-12-18T10:00"), **common)
    assert opened["opened"] == 0  # already open: nothing to do

    rolled = rollup(programme=PROGRAMME, year=2023, at=at("2023-12-18T10:00"), calendar_dir=str(world.calendar_dir))
    assert rolled[0]["milestones"][0]["awaiting"] == 3
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        (evaluation,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"evaluation-{PROGRAMME}-2023"])), limit=1
        )
    assert "各市局" in evaluation.data and "准时市市场监督管理局" in evaluation.data
    assert len(world.smtp.messages) == 6


def test_simulate_jilin_2023(cli, tmp_path, prefect_server):
    outbox = tmp_path / "eml"
    r = cli(
        "simulate",
        "jilin-quality-2022-2024",
        "--year",
        "2023",
        "--seed",
        "7",
        "--workdir",
        tmp_path,
        "--outbox",
        outbox,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    s = out["summary"]
    assert s["emails_sent"] == s["emails_received_by_smtp"] == len(list(outbox.glob("*.eml"))) > 100
    assert s["delivery_failures"] == 0
    states = {row["state"] for row in out["status"]}
    assert "submitted" in states and "overdue" in states  # the 'never' bureaus stay overdue
    from models.queries import STATUS_KEYS

    assert all(set(row) == set(STATUS_KEYS) for row in out["status"])
    assert {row["item"] for row in out["status"] if row["milestone"] == "clinic-visit-reports"} - {
        None
    }  # enterprise by enterprise
    assert 0 < out["rollup"]["on_time_rate"] < 1


def test_a_secret_can_come_from_a_prefect_secret_block(prefect_server):
    from prefect.blocks.system import Secret

    from notifications.contacts import Contacts
    from notifications.send import TransportError, targets

    Secret(value="gateway-token-42").save("yw-sms-token", overwrite=True)
    c = Contacts.model_validate(
        {
            "version": 1,
            "sms": {"url": "http://127.0.0.1:9/sms", "token": {"prefect_secret": "yw-sms-token"}},
            "participants": {"cc": {"phone": ["+8613800000001"]}},
        }
    )
    (t,) = targets(c, "cc", "self", "sms", os.environ)
    assert "gateway-token-42" in t.url and "gateway-token-42" not in t.display
    missing = Contacts.model_validate(
        {
            "version": 1,
            "sms": {"url": "http://127.0.0.1:9/sms", "token": {"prefect_secret": "no-such-block"}},
            "participants": {"cc": {"phone": ["+8613800000001"]}},
        }
    )
    try:
        targets(missing, "cc", "self", "sms", os.environ)
    except TransportError as exc:
        assert exc.permanent and "no-such-block" in str(exc)
    else:
        raise AssertionError("a missing Prefect Secret block must fail")


def test_the_advance_command_runs_as_a_flow_run(cli, world):
    args = (
        "advance",
        "--at",
        "2023-12-01T09:00",
        "--programme",
        PROGRAMME,
        "--contacts",
        world.contacts,
        "--calendar-dir",
        world.calendar_dir,
        "--json",
        "--prefect",
    )
    first = cli(*args)
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["dispatch"]["sent"] == 3
    assert json.loads(cli(*args).stdout)["dispatch"]["sent"] == 0

    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async def runs():
        async with get_client() as client:
            return await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["advance"])))

    import asyncio

    found = asyncio.run(runs())
    named = [r for r in found if r.name == f"advance {PROGRAMME} as of 2023-12-01 09:00"]
    assert len(named) >= 2 and all(r.state.type.value == "COMPLETED" for r in named)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_progress_artifact_for_an_open_milestone(world, tmp_path, monkeypatch):
    """The advance flow publishes a progress artifact per open milestone, keyed: every version kept."""
    from flows.advance import advance
    from tests.engine.conftest import submit

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    monkeypatch.setenv("YEARWHEEL_REPORT_DIR", str(tmp_path / "reports"))
    common = {
        "programme": PROGRAMME,
        "calendar_dir": str(world.calendar_dir),
        "contacts": str(world.contacts),
        "return_state": True,
    }
    runs = [advance(at=at("2023-12-01T09:00"), **common).state_details.flow_run_id]
    submit(world, "2023-12-20T10:00", "punctual-city", {"enterprises_served": 3, "summary": "好"})
    runs.append(advance(at=at("2023-12-21T09:00"), **common).state_details.flow_run_id)
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["progress-engine-demo-2023-results-submitted"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=runs),
            )
        )
    assert (tmp_path / "reports" / "engine-demo-2023.html").exists()
    values = sorted(float(a.data) for a in found)
    # 0 of 3 after opening, 1 of 3 after punctual-city's submission: both versions kept under the key
    assert values == [0.0, 33.3]
    assert "提交年度提升成效表：已报送 1/3，截止 2023-12-25" in {a.description for a in found}


@pytest.mark.parametrize("naive", [True, False], ids=["naive", "aware"])
def test_every_flow_takes_a_naive_or_an_aware_instant(world, naive):
    """A naive instant is Asia/Shanghai time in every entry point (one conversion:
    models.timeline.to_instant) — it used to fail inside SQL for chase, open and rollup."""
    import datetime as dt

    from flows.advance import advance
    from flows.chase import chase
    from flows.open_milestone import open_milestone
    from flows.rollup import rollup

    def when(text: str) -> dt.datetime:
        aware = at(text)
        return aware.replace(tzinfo=None) if naive else aware.astimezone(dt.timezone.utc)

    common = {"calendar_dir": str(world.calendar_dir), "contacts": str(world.contacts)}
    opened = open_milestone(programme=PROGRAMME, year=2023, milestone="results-submitted", at=when("2023-11-20T10:00"), **common)
    assert opened["opened"] == 3
    chased = chase(programme=PROGRAMME, year=2023, at=when("2023-12-18T09:00"), **common)
    assert chased["queued"] == {"upcoming": 3}  # 5 working days before 12-25, read as Shanghai time either way
    rolled = rollup(programme=PROGRAMME, year=2023, at=when("2023-12-18T10:00"), calendar_dir=str(world.calendar_dir))
    assert rolled[0]["milestones"][0]["awaiting"] == 3
    out = advance(at=when("2023-12-26T00:05"), programme=PROGRAMME, **common)
    assert out["overdue"] == 3 and dt.datetime.fromisoformat(out["at"]) == at("2023-12-26T00:05")


def test_a_broken_calendar_is_one_failed_task_run_and_the_others_advance(world, prefect_server):
    """In the flow, each programme is its own task run: the broken one fails (named, with
    its file and line), the good one completes, and the flow run ends Failed saying which."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.advance import advance
    from tests.engine.conftest import HERE

    text = (HERE / "engine-demo.yaml").read_text(encoding="utf-8").replace("id: engine-demo", "id: broken-demo", 1)
    (world.calendar_dir / "broken-demo.yaml").write_text(
        text.replace("before_due: [5, 1, 0]", "before_due: [5, 1, zero]"), encoding="utf-8"
    )
    state = advance(
        at=at("2023-12-01T09:00"), calendar_dir=str(world.calendar_dir), contacts=str(world.contacts), return_state=True
    )
    assert state.is_failed() and "broken-demo" in state.message and "1 programme(s) stopped" in state.message
    out = state.result(raise_on_failure=False)
    assert out["opened"] == 3 and out["dispatch"]["sent"] == 3 and list(out["failures"]) == ["broken-demo"]
    assert len(world.smtp.messages) == 3

    import asyncio

    async def task_runs():
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
            )
            return {r.name: r.state.type.value for r in runs}

    runs = asyncio.run(task_runs())
    assert runs["advance engine-demo"] == "COMPLETED"
    assert runs["calendar broken-demo.yaml is invalid"] == "FAILED"


def test_the_engine_log_reaches_the_run_log_and_no_secret_does(world, monkeypatch):
    """In a flow run, the dispatcher's records (claims, failures with their reason) are in
    Prefect's run log; the SMTP password and the SMS token used for sending are not."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from flows.advance import advance
    from tests.engine.conftest import contacts_yaml
    from tests.sinks import HttpSink

    password, token = "smtp-password-Zq81x", "sms-token-Pw42y"
    monkeypatch.setenv("YW_SMTP_PASSWORD", password)
    monkeypatch.setenv("YW_SMS_TOKEN", token)
    with HttpSink(status=500) as gateway:  # the SMS gateway refuses: a failure with a reason
        text = contacts_yaml(world.smtp.port, sms_url=f"{gateway.url}/sms", extra="    phone: ['+8613900000001']\n")
        text = text.replace("  security: none\n", "  security: none\n  username: noreply\n  password: {env: YW_SMTP_PASSWORD}\n")
        text = text.replace(f"  url: {gateway.url}/sms\n", f"  url: {gateway.url}/sms\n  token: {{env: YW_SMS_TOKEN}}\n")
        world.write_contacts(text)
        state = advance(
            at=at("2023-12-01T10:00"),
            programme=PROGRAMME,
            calendar_dir=str(world.calendar_dir),
            contacts=str(world.contacts),
            return_state=True,
        )
    assert gateway.requests and token in gateway.requests[0].headers.get("X-Token", "")  # the secret was used …
    run_id = state.state_details.flow_run_id

    async def logs():
        async with get_client() as client:
            return [
                entry.message
                for entry in await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            ]

    # Prefect ships a run's log in the background, in batches: drain what this process still
    # holds, then read until the run's last line ("Finished in state …") has been stored.
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)
    deadline = time.monotonic() + 60
    while True:
        messages = asyncio.run(logs())
        if any(m.startswith("Finished in state") for m in messages) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    text = "\n".join(messages)
    assert "outbox: claimed" in text  # the dispatcher's batches
    assert "will retry" in text and "sms" in text  # the failure, with its reason
    assert password not in text and token not in text  # … and never logged


def test_the_bulletin_flow_sends_last_months_bulletin_on_the_first_working_day(world, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.bulletin import bulletin

    monkeypatch.setenv("YEARWHEEL_REPORT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("YEARWHEEL_CONTACTS", str(world.contacts))
    world.advance("2023-12-01T09:00")
    world.advance("2023-12-27T09:00")
    common = {"calendar_dir": str(world.calendar_dir), "programme": PROGRAMME}
    assert bulletin(at=at("2024-01-01T09:00"), **common)[0]["queued"] == 0  # a holiday: not the day
    (done,) = bulletin(at=at("2024-01-02T09:00"), **common)
    assert done["queued"] == 1 and (tmp_path / "out" / f"{PROGRAMME}-bulletin-2023-12.docx").exists()
    assert (tmp_path / "out" / f"{PROGRAMME}-bulletin-2023-12.html").exists()
    assert bulletin(at=at("2024-01-02T11:00"), **common)[0]["queued"] == 0
    sent = [m for m in world.smtp.messages if "月度通报" in str(m["Subject"])]
    assert [m["To"] for m in sent] == ["coordinator@province.example.gov.cn"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"bulletin-{PROGRAMME}-2023-12"]))
        )
    assert found and "迟交市市场监督管理局" in found[0].data
