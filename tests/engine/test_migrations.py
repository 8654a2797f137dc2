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
