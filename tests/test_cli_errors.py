"""Every command on its error paths: a missing database, an unknown programme or year, a
year without working-day data, a broken calendar, a broken contacts file. Each must end
with a one-line (or located) message and exit 1 or 2 — never a Python traceback.

In-process (typer's runner with exceptions *not* caught, so an escaping exception fails
the test), and a sample through the console script as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import CALENDARS, JILIN_ID

YEARWHEEL = Path(sys.executable).with_name("yearwheel")
LATER = "later-quality"  # a programme running into 2027, which has no working-day data


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A calendar folder (Jilin, a broken copy of it, a programme into 2027), a migrated
    ledger, a broken contacts file and a filled form."""
    root = tmp_path_factory.mktemp("cli-errors")
    cal = root / "calendar"
    cal.mkdir()
    text = (CALENDARS / f"{JILIN_ID}.yaml").read_text(encoding="utf-8")
    (cal / f"{JILIN_ID}.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(CALENDARS / "experts", cal / "experts")
    broken = cal.parent / "broken"
    broken.mkdir()
    (broken / f"{JILIN_ID}.yaml").write_text(text.replace("kind: announcement", "kind: anouncement", 1), encoding="utf-8")
    later = cal.parent / "later"
    later.mkdir()
    demo = (Path(__file__).parent / "engine" / "engine-demo.yaml").read_text(encoding="utf-8")
    (later / f"{LATER}.yaml").write_text(
        demo.replace("id: engine-demo", f"id: {LATER}", 1).replace(
            "years: {first: 2023, last: 2024}", "years: {first: 2026, last: 2027}"
        ),
        encoding="utf-8",
    )
    from models.migrate import upgrade

    db = root / "ledger.db"
    upgrade(f"sqlite:///{db}")
    contacts = root / "contacts.yaml"
    contacts.write_text("version: 1\nparticipants:\n  changchun:\n    email: [not-an-address]\n", encoding="utf-8")
    form = root / "form.yaml"
    form.write_text("enterprises_served: 3\n", encoding="utf-8")
    return {
        "root": root,
        "cal": cal,
        "broken": broken,
        "later": later,
        "db": db,
        "contacts": contacts,
        "form": form,
        "missing_db": root / "nowhere" / "ledger.db",
    }


def _cases():
    jid, cd = JILIN_ID, "--calendar-dir"
    task = ["--milestone", "clinic-recommendations", "--participant", "changchun"]
    who = ["--actor", "测试", "--reason", "测试"]
    return [
        # (name, args with {placeholders}, database, exit code, words the message must contain)
        ("plan unknown programme", ["plan", "nope", "--year", "2023", cd, "{cal}"], "db", 1, "no calendar for programme 'nope'"),
        ("plan unknown year", ["plan", jid, "--year", "2019", cd, "{cal}"], "db", 1, "2019 is not one of its years"),
        ("plan outside and undocumented", ["plan", jid, "--year", "2031", cd, "{cal}"], "db", 1, "2031 is not one of its years"),
        ("plan no working days", ["plan", LATER, "--year", "2027", cd, "{later}"], "db", 2, "no working-day data for 2027"),
        ("plan bad calendar", ["plan", jid, "--year", "2023", cd, "{broken}"], "db", 1, ".yaml:"),
        ("ics no working days", ["ics", LATER, "--year", "2027", cd, "{later}"], "db", 2, "cn-2027.yaml"),
        (
            "ics unknown participant",
            ["ics", jid, "--year", "2023", "--participant", "nobody", cd, "{cal}"],
            "db",
            1,
            "unknown participant",
        ),
        ("ics bad calendar", ["ics", jid, "--year", "2023", cd, "{broken}"], "db", 1, ".yaml:"),
        ("validate bad calendar", ["validate", "{broken}"], "db", 1, "anouncement"),
        (
            "advance missing db",
            ["advance", "--at", "2023-12-01T09:00", "--no-prefect", cd, "{cal}"],
            "missing",
            1,
            "does not exist",
        ),
        ("advance bad instant", ["advance", "--at", "next tuesday", "--no-prefect", cd, "{cal}"], "db", 1, "is not a date-time"),
        (
            "advance unknown programme",
            ["advance", "--programme", "nope", "--no-prefect", cd, "{cal}"],
            "db",
            1,
            "no calendar for programme",
        ),
        ("advance bad calendar", ["advance", "--at", "2023-12-01T09:00", "--no-prefect", cd, "{broken}"], "db", 1, ".yaml:"),
        (
            "advance bad contacts",
            ["advance", "--at", "2023-12-01T09:00", "--no-prefect", "--contacts", "{contacts}", cd, "{cal}"],
            "db",
            1,
            "contacts.yaml:",
        ),
        (
            "advance missing contacts",
            ["advance", "--at", "2023-12-01T09:00", "--no-prefect", "--contacts", "{root}/none.yaml", cd, "{cal}"],
            "db",
            1,
            "cannot read the file",
        ),
        (
            "advance no working days",
            ["advance", "--at", "2027-03-01T09:00", "--no-prefect", cd, "{later}"],
            "db",
            1,
            "no working-day data for 2027",
        ),
        ("status missing db", ["status", jid, "--year", "2023", cd, "{cal}"], "missing", 1, "does not exist"),
        ("status unknown year", ["status", jid, "--year", "2019", cd, "{cal}"], "db", 1, "not in the ledger"),
        ("status unknown programme", ["status", "nope", "--year", "2023", cd, "{cal}"], "db", 1, "no calendar for programme"),
        ("rollup unknown year", ["rollup", jid, "--year", "2019", cd, "{cal}"], "db", 1, "not in the ledger"),
        (
            "report unknown year",
            ["report", jid, "--year", "2019", "-o", "{root}/r.html", cd, "{cal}"],
            "db",
            1,
            "not in the ledger",
        ),
        (
            "report missing db",
            ["report", jid, "--year", "2023", "-o", "{root}/r.html", cd, "{cal}"],
            "missing",
            1,
            "does not exist",
        ),
        (
            "submit missing file",
            ["submit", jid, "--year", "2023", *task, "--file", "{root}/none.yaml", cd, "{cal}"],
            "db",
            1,
            "none.yaml",
        ),
        (
            "submit not compiled",
            ["submit", jid, "--year", "2023", *task, "--file", "{form}", cd, "{cal}"],
            "db",
            1,
            "not in the ledger",
        ),
        (
            "submit bad contacts",
            ["submit", jid, "--year", "2023", *task, "--file", "{form}", "--contacts", "{contacts}", cd, "{cal}"],
            "db",
            1,
            "contacts.yaml:",
        ),
        (
            "accept missing db",
            ["accept", jid, "--year", "2023", *task, "--actor", "测试", cd, "{cal}"],
            "missing",
            1,
            "does not exist",
        ),
        ("return not compiled", ["return", jid, "--year", "2023", *task, *who, cd, "{cal}"], "db", 1, "not in the ledger"),
        (
            "extend bad date",
            ["extend", jid, "--year", "2023", *task, "--to", "12月25日", *who, cd, "{cal}"],
            "db",
            1,
            "expected a date",
        ),
        ("exempt not compiled", ["exempt", jid, "--year", "2023", *task, *who, cd, "{cal}"], "db", 1, "not in the ledger"),
        ("outbox missing db", ["outbox"], "missing", 1, "does not exist"),
        (
            "forms export unknown year",
            ["forms", "export", jid, "--year", "2019", "--milestone", "clinic-recommendations", "-o", "{root}/xl", cd, "{cal}"],
            "db",
            1,
            "not in the ledger",
        ),
        ("forms import not a workbook", ["forms", "import", "{form}", cd, "{cal}"], "db", 1, "form.yaml"),
        (
            "experts draw not compiled",
            ["experts", "draw", jid, "--year", "2023", "--milestone", "clinic-visits", "--seed", "x", cd, "{cal}"],
            "db",
            1,
            "",
        ),
        (
            "simulate unknown programme",
            ["simulate", "nope", "--year", "2023", "--no-prefect", "--workdir", "{root}/sim", cd, "{cal}"],
            "db",
            1,
            "no calendar for programme",
        ),
        (
            "simulate unknown year",
            ["simulate", jid, "--year", "2030", "--no-prefect", "--workdir", "{root}/sim", cd, "{cal}"],
            "db",
            1,
            "not one of its years",
        ),
        (
            "simulate no working days",
            ["simulate", LATER, "--year", "2027", "--no-prefect", "--workdir", "{root}/sim", cd, "{later}"],
            "db",
            2,
            "cn-2027.yaml",
        ),
        ("db current missing db", ["db", "current"], "missing", 1, "does not exist"),
        ("intake serve without a secret", ["intake", "serve", cd, "{cal}"], "db", 1, "YEARWHEEL_LINK_SECRET"),
    ]


@pytest.mark.parametrize(("name", "args", "database", "code", "words"), _cases(), ids=[c[0] for c in _cases()])
def test_error_paths_end_with_a_message_not_a_traceback(place, monkeypatch, name, args, database, code, words):
    url = f"sqlite:///{place['db'] if database == 'db' else place['missing_db']}"
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", url)
    monkeypatch.delenv("YEARWHEEL_LINK_SECRET", raising=False)
    monkeypatch.delenv("YEARWHEEL_INTAKE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    from yearwheel.cli import build_app

    app = build_app()

    argv = [a.format(**{k: str(v) for k, v in place.items()}) for a in args]
    result = CliRunner().invoke(app, argv, catch_exceptions=False)
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert result.exit_code == code, out
    assert words in out, out
    assert not place["missing_db"].exists() and not place["missing_db"].parent.exists()


def test_the_console_script_never_shows_a_traceback_even_for_a_bug(tmp_path):
    # An unexpected exception (here: the calendar folder is a file) is one line, and the
    # details go to a log file the message names.
    bogus = tmp_path / "calendar"
    bogus.write_text("not a folder", encoding="utf-8")
    out = subprocess.run(
        [str(YEARWHEEL), "plan", JILIN_ID, "--year", "2023", "--calendar-dir", str(bogus)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in out.stderr + out.stdout
    assert out.returncode in (1, 2, 3)
    assert out.stderr.strip()
