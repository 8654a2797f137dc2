"""The ledger commands through the real CLI: db upgrade, advance, status, submit, return,
extend, exempt, rollup — exit codes and messages a coordinator acts on."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from models.tables import StatusChange, Submission
from tests.engine.conftest import PROGRAMME, ledger


def run(cli, world, *args):
    return cli(*args, "--calendar-dir", world.calendar_dir)


def test_db_upgrade_creates_the_schema_and_advance_refuses_without_it(cli, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", url)
    r = cli("advance", "--at", "2023-12-01T09:00", "--no-prefect")
    assert r.exit_code == 1
    assert "fresh.db does not exist: run `yearwheel db upgrade`" in r.stderr
    assert not (tmp_path / "fresh.db").exists()  # asking did not create an empty database
    (tmp_path / "fresh.db").touch()
    r = cli("advance", "--at", "2023-12-01T09:00", "--no-prefect")
    assert r.exit_code == 1 and "has no Yearwheel schema: run `yearwheel db upgrade`" in r.stderr
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r.stderr
    r = cli("db", "current")
    from models.migrate import head_revision

    assert f"at {head_revision()}; latest {head_revision()}" in r.stdout


def test_advance_twice_at_the_same_instant_sends_nothing_new(cli, world):
    first = run(cli, world, "advance", "--at", "2023-12-01T09:00", "--contacts", world.contacts, "--no-prefect", "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["dispatch"]["sent"] == 3
    second = run(cli, world, "advance", "--at", "2023-12-01T09:00", "--contacts", world.contacts, "--no-prefect", "--json")
    report = json.loads(second.stdout)
    assert (report["opened"], report["queued"], report["dispatch"]["sent"]) == (0, {}, 0)
    assert len(world.smtp.messages) == 3
    text = run(cli, world, "advance", "--at", "2023-12-01T09:00", "--contacts", world.contacts, "--no-prefect")
    assert "sent 0," in text.stdout


def test_status_json_has_the_documented_shape(cli, world):
    run(cli, world, "advance", "--at", "2023-12-18T09:00", "--contacts", world.contacts, "--no-prefect")
    r = run(cli, world, "status", PROGRAMME, "--year", "2023", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [set(x) for x in rows] == [{"milestone", "participant", "item", "state", "due", "submitted_at", "reminders_sent"}] * 3
    assert {x["item"] for x in rows} == {None}  # no fan-out here
    assert {(x["participant"], x["state"], x["due"], x["reminders_sent"]) for x in rows} == {
        (p, "open", "2023-12-25", 2) for p in ("punctual-city", "late-city", "exempt-city")
    }  # the opening notice (worth sending until the due day) and the 5-before reminder
    table = run(cli, world, "status", PROGRAMME, "--year", "2023")
    assert "late-city" in table.stdout and "○" in table.stdout


def test_submit_rejects_a_bad_payload_and_stores_nothing(cli, world, tmp_path):
    run(cli, world, "advance", "--at", "2023-12-01T09:00", "--contacts", world.contacts, "--no-prefect")
    bad = tmp_path / "bad.yaml"
    bad.write_text("enterprises_served: -3\nsummary: 12\ncolour: red\n", encoding="utf-8")
    r = run(
        cli,
        world,
        "submit",
        PROGRAMME,
        "--year",
        "2023",
        "--milestone",
        "results-submitted",
        "--participant",
        "late-city",
        "--file",
        bad,
        "--at",
        "2023-12-10T10:00",
        "--contacts",
        world.contacts,
    )
    assert r.exit_code == 1
    problems = [line for line in r.stderr.splitlines() if line.startswith(str(bad))]
    assert len(problems) == 3, r.stderr
    assert "nothing was recorded" in r.stderr
    with ledger(world) as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0
        assert s.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.to_state == "submitted")) == 0


def test_submit_then_coordinator_actions(cli, world, tmp_path):
    run(cli, world, "advance", "--at", "2023-12-01T09:00", "--contacts", world.contacts, "--no-prefect")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"enterprises_served": 7, "summary": "完成"}), encoding="utf-8")
    args = ("--year", "2023", "--milestone", "results-submitted")
    r = run(
        cli,
        world,
        "submit",
        PROGRAMME,
        *args,
        "--participant",
        "punctual-city",
        "--file",
        good,
        "--at",
        "2023-12-10T10:00",
        "--contacts",
        world.contacts,
    )
    assert r.exit_code == 0, r.stderr
    assert "version 1: on time (due 2023-12-25); acknowledgement sent 1" in r.stdout
    ack = world.smtp.messages[-1]
    assert ack["To"] == "office@punctual.example.gov.cn"
    again = run(
        cli,
        world,
        "submit",
        PROGRAMME,
        *args,
        "--participant",
        "punctual-city",
        "--file",
        good,
        "--at",
        "2023-12-11T10:00",
        "--contacts",
        world.contacts,
    )
    assert again.exit_code == 0 and "version 2: on time" in again.stdout  # a correction before acceptance
    r = run(
        cli,
        world,
        "accept",
        PROGRAMME,
        *args,
        "--participant",
        "punctual-city",
        "--actor",
        "质量发展处 张三",
        "--at",
        "2023-12-11T11:00",
    )
    assert r.exit_code == 0 and "accepted version 2" in r.stdout, r.stderr
    third = run(
        cli,
        world,
        "submit",
        PROGRAMME,
        *args,
        "--participant",
        "punctual-city",
        "--file",
        good,
        "--at",
        "2023-12-11T12:00",
        "--contacts",
        world.contacts,
    )
    assert third.exit_code == 1 and "was accepted on 2023-12-11" in third.stderr

    r = run(
        cli,
        world,
        "return",
        PROGRAMME,
        *args,
        "--participant",
        "punctual-city",
        "--reason",
        "缺少附件",
        "--actor",
        "质量发展处 张三",
        "--at",
        "2023-12-12T10:00",
        "--contacts",
        world.contacts,
    )
    assert r.exit_code == 0, r.stderr
    assert "returned" in r.stdout
    r = run(
        cli,
        world,
        "extend",
        PROGRAMME,
        *args,
        "--participant",
        "late-city",
        "--to",
        "2024-01-05",
        "--reason",
        "延期",
        "--actor",
        "质量发展处 张三",
        "--at",
        "2023-12-13T10:00",  # an extension never moves a date into the past (here: 2026)
    )
    assert r.exit_code == 0 and "due 2024-01-05" in r.stdout
    r = run(
        cli, world, "exempt", PROGRAMME, *args, "--participant", "exempt-city", "--reason", "免报", "--actor", "质量发展处 张三"
    )
    assert r.exit_code == 0 and "exempted" in r.stdout
    r = run(cli, world, "exempt", PROGRAMME, *args, "--participant", "nobody", "--reason", "x", "--actor", "y")
    assert r.exit_code == 1 and "'nobody' is not an assignee" in r.stderr and "late-city" in r.stderr
    with ledger(world) as s:
        actors = set(s.scalars(select(StatusChange.actor)))
        assert "质量发展处 张三" in actors and "punctual-city" in actors

    r = run(cli, world, "rollup", PROGRAMME, "--year", "2023", "--at", "2023-12-26T10:00", "--json")
    assert r.exit_code == 0, r.stderr
    roll = json.loads(r.stdout)
    assert roll["milestones"][0]["exempted"] == 1


def test_outbox_lists_failures_with_their_reason(cli, world):
    from tests.engine.conftest import contacts_yaml
    from tests.pg import free_port

    world.write_contacts(contacts_yaml(free_port()))  # the SMTP server is down
    run(cli, world, "advance", "--at", "2023-12-01T09:00", "--contacts", world.contacts, "--no-prefect")
    r = cli("outbox", "--state", "pending", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 3 and all(x["attempts"] == 1 and x["last_error"] for x in rows)
    assert {x["participant"] for x in rows} == {"punctual-city", "late-city", "exempt-city"}
    assert cli("outbox", "--state", "sent", "--json").stdout.strip() == "[]"
    assert "results-submitted / late-city" in cli("outbox").stdout
