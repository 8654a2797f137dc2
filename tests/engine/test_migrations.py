"""Migrations create exactly the tables the models declare, and go down and up again."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from models.db import Base
from models.migrate import downgrade, head_revision, upgrade

ROOT = Path(__file__).resolve().parents[2]


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_match_the_models(database_url):
    assert _diff(database_url) == []


def test_upgrade_downgrade_upgrade(database_url):
    model_tables = set(Base.metadata.tables)
    assert model_tables <= _tables(database_url)
    downgrade(database_url, "base")
    assert _tables(database_url) & model_tables == set()
    upgrade(database_url)
    assert model_tables <= _tables(database_url)
    assert _diff(database_url) == []
    assert head_revision() is not None


def test_every_revision_says_why():
    for f in (ROOT / "migrations" / "versions").glob("*.py"):
        text = f.read_text(encoding="utf-8")
        assert "Why:" in text and "<say why" not in text, f"{f.name}: say why the revision exists"


def test_the_app_never_creates_tables_itself():
    offenders = [
        p
        for d in ("models", "flows", "notifications")
        for p in (ROOT / d).rglob("*.py")
        if ".create_all(" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_upgrading_a_ledger_with_history_keeps_every_row(tmp_path):
    """SQLite alters a table by copying and dropping it: with foreign keys on, dropping
    ``tasks`` (0009) or ``outbox`` (0008) would cascade into the submissions, the audit
    trail and the deliveries. A ledger at 0007 with one of each keeps them all."""
    from sqlalchemy import text

    from models.db import make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0007")
    engine = make_engine(url)
    now = "2023-12-01 01:00:00.000000"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO programme_years (id, programme, year, title, calendar_digest, compiled_at) VALUES (1, 'p', 2023, 't', 'd', :now)"
            ),
            {"now": now},
        )
        c.execute(
            text(
                "INSERT INTO milestone_instances (id, programme_year_id, milestone, title, kind, nominal_due, due, rest_day_rule, sequence) VALUES (1, 1, 'm', 't', 'submission', '2023-12-25', '2023-12-25', 'next_workday', 0)"
            )
        )
        c.execute(
            text(
                "INSERT INTO tasks (id, programme_year_id, milestone_instance_id, participant, state, due, original_due, state_changed_at) VALUES (1, 1, 1, 'c', 'submitted', '2023-12-25', '2023-12-25', :now)"
            ),
            {"now": now},
        )
        c.execute(
            text(
                "INSERT INTO submissions (id, task_id, version, payload, received_at, on_time, actor) VALUES (1, 1, 1, '{}', :now, 1, 'c')"
            ),
            {"now": now},
        )
        c.execute(
            text(
                "INSERT INTO status_changes (id, task_id, from_state, to_state, at, actor) VALUES (1, 1, 'open', 'submitted', :now, 'c')"
            ),
            {"now": now},
        )
        c.execute(
            text(
                "INSERT INTO outbox (id, key, task_id, kind, step, recipient, audience, channel, subject, body, state, created_at, due_at, not_before, attempts) VALUES (1, 'k', 1, 'opened', 's', 'c', 'self', 'email', '', '', 'sent', :now, :now, :now, 1)"
            ),
            {"now": now},
        )
        c.execute(
            text("INSERT INTO deliveries (id, outbox_id, channel, started_at, outcome) VALUES (1, 1, 'email', :now, 'sent')"),
            {"now": now},
        )
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as c:
        counts = {
            t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("tasks", "submissions", "status_changes", "outbox", "deliveries")
        }
        assert c.execute(text("SELECT item_key FROM tasks")).scalar() == ""
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1  # on again for the application
    engine.dispose()
    assert counts == {"tasks": 1, "submissions": 1, "status_changes": 1, "outbox": 1, "deliveries": 1}
