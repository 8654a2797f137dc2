from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

ROOT = Path(__file__).resolve().parents[1]
CALENDARS = ROOT / "calendar"
JILIN_ID = "jilin-quality-2022-2024"
JILIN = CALENDARS / f"{JILIN_ID}.yaml"


@pytest.fixture
def cli():
    """Run the yearwheel CLI in-process; returns click's Result (stdout and stderr apart)."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture
def jilin_text() -> str:
    return JILIN.read_text(encoding="utf-8")


@pytest.fixture
def calendar_copy(tmp_path):
    """Write a (possibly broken) copy of a calendar into a fresh calendar directory."""

    def write(text: str, name: str = f"{JILIN_ID}.yaml") -> Path:
        d = tmp_path / "calendar"
        d.mkdir(exist_ok=True)
        (d / name).write_text(text, encoding="utf-8")
        return d / name

    return write


def plan_json(cli, year: int, *extra: str) -> dict:
    result = cli("plan", JILIN_ID, "--year", str(year), "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)
