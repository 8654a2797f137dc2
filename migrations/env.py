"""Alembic environment: targets Yearwheel's ledger metadata.

The database URL comes from the Alembic config (set by ``yearwheel db``), falling back to
``YEARWHEEL_DATABASE_URL`` / the default SQLite file, exactly as the application does.
"""

from alembic import context

from models.db import Base, database_url, make_engine
import models.tables  # noqa: F401 — registers the tables on Base.metadata

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or None)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    # SQLite alters a table by copying it and dropping the old one; with foreign keys on,
    # that drop would cascade into every table referencing it (submissions, the audit
    # trail, the outbox, deliveries) and wipe the history. They are switched off for the
    # migration (outside any transaction, where SQLite honours it), checked afterwards.
    raw = connection.connection.dbapi_connection if connection.dialect.name == "sqlite" else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if raw is not None:
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            raw.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
