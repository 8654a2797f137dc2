"""Apply the Alembic migrations in ``migrations/`` (``yearwheel db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .db import database_url

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


class NotACheckout(RuntimeError):
    """Yearwheel is an application run from its checkout: the migrations (and the shipped
    calendars) live beside the code, not inside an installed package."""


def migrations_dir() -> Path:
    if not (MIGRATIONS / "env.py").is_file():
        raise NotACheckout(
            f"Yearwheel runs from its checkout, and {MIGRATIONS} is not there: the code was copied or installed "
            "without the repository around it. Clone the repository and run `uv sync` and `uv run yearwheel …` inside it "
            "(see README.md, Quick start)."
        )
    return MIGRATIONS


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "-1") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revision(message: str, url: str | None = None) -> None:
    """Autogenerate a revision from the difference between the models and ``url``'s schema
    (which must be at the latest migration). Edit its "Why:" line before committing."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


if __name__ == "__main__":  # python -m models.migrate "what changed" (see README, Development)
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        scratch = f"sqlite:///{tmp}/scratch.db"
        upgrade(scratch)
        revision(" ".join(sys.argv[1:]) or "change", scratch)
