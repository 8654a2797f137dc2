from __future__ import annotations

import json

from models.timeline.schema import render_schemas
from tests.conftest import CALENDARS


def test_committed_json_schemas_are_fresh():
    for name, text in render_schemas().items():
        committed = (CALENDARS / "schema" / name).read_text(encoding="utf-8")
        assert committed == text, f"calendar/schema/{name} is stale: run 'yearwheel schema'"


def test_schema_forbids_unknown_keys_and_names_the_rules():
    schema = json.loads(render_schemas()["programme.schema.json"])
    assert schema["additionalProperties"] is False
    defs = schema["$defs"]
    assert defs["Milestone"]["additionalProperties"] is False
    rules = {d["properties"]["rule"]["const"] for n, d in defs.items() if "rule" in d.get("properties", {})}
    assert rules == {
        "fixed",
        "end_of_month",
        "start_of_month",
        "mid_month",
        "window",
        "working_days_after",
        "working_days_before",
    }


def test_schema_check_command_detects_staleness(cli, tmp_path):
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "programme.schema.json").write_text("{}", encoding="utf-8")
    stale = cli("schema", "--check", "--calendar-dir", tmp_path)
    assert stale.exit_code == 1 and "stale" in stale.stderr
    assert cli("schema", "--calendar-dir", tmp_path).exit_code == 0
    assert cli("schema", "--check", "--calendar-dir", tmp_path).exit_code == 0
