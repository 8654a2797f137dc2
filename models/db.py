"""Database plumbing: the declarative base, a UTC timestamp type, engines and sessions.

The caller says which database (``yearwheel.settings``: ``YEARWHEEL_DATABASE_URL``); the
default is a SQLite file ``yearwheel.db`` in the working directory. The same code runs on PostgreSQL
(``postgresql+psycopg://user@host/db``). The schema is created by Alembic
(``yearwheel db upgrade``), never by ``create_all`` outside tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from pathlib import Path

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator

DEFAULT_FILE = "yearwheel.db"

# Stable constraint names so that migrations name what they create and drop.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """An instant: stored in UTC, returned timezone-aware; naive datetimes are refused
    (a naive value is a bug — whose clock was it?)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give instants with a timezone")
        value = value.astimezone(dt.timezone.utc)
        # SQLite stores text; keep it naive-UTC there so ordering and comparison work.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def database_url(explicit: str | None = None) -> str:
    """``explicit``, else the default SQLite file in the working directory."""
    return explicit or f"sqlite:///{Path.cwd() / DEFAULT_FILE}"


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist (connecting would create it
    empty); None for other databases and for files that exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        return None if path.exists() else path
    return None


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | None = None, *, lock_timeout: float = 30.0, **kw) -> Engine:
    """An engine that waits at most ``lock_timeout`` seconds for a lock (SQLite's write
    lock, a PostgreSQL row lock) before failing — the web service answers "busy, try
    again" after a few seconds instead of stalling a request."""
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": lock_timeout}, **kw)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # pysqlite's own transaction handling would start transactions lazily and
            # let two writers both read before either writes; BEGIN IMMEDIATE below takes
            # the write lock at the start of every transaction instead.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    args = kw.pop("connect_args", {})
    if url.startswith("postgresql"):
        args = {"options": f"-c lock_timeout={int(lock_timeout * 1000)}", **args}
    return create_engine(url, pool_pre_ping=True, connect_args=args, **kw)


def affected(result: Any) -> int:
    """The rows an UPDATE, INSERT or DELETE statement changed."""
    return int(result.rowcount)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
