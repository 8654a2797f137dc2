from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.pg import PostgresServer


ROOT = Path(__file__).resolve().parents[1]
CALENDARS = ROOT / "calendar"
JILIN_ID = "jilin-quality-2022-2024"
JILIN = CALENDARS / f"{JILIN_ID}.yaml"


@pytest.fixture
def cli():
    """Run the yearwheel CLI in-process; returns click's Result (stdout and stderr apart)."""
    from yearwheel.cli import build_app

    app = build_app()

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def _jilin_2023_run(tmp_path_factory, worker_id) -> Path:
    """One simulated Jilin 2023 year (seed 1, without Prefect) for every test that reads
    one, shared by the xdist workers: the first to need it runs it, under a lock."""
    import fcntl

    from yearwheel.cli import build_app

    base = tmp_path_factory.getbasetemp()
    shared = (base if worker_id == "master" else base.parent) / "simulated-jilin-2023"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "result.json").exists():
            import logging

            run = shared / "run"
            args = ["simulate", JILIN_ID, "--year", "2023", "--seed", "1", "--no-prefect", "--workdir", str(run), "--json"]
            logger = logging.getLogger("yearwheel")  # the command detaches it: put it back (see _engine_logger)
            saved = (logger.propagate, logger.level, list(logger.handlers))
            try:
                r = CliRunner().invoke(build_app(), args, catch_exceptions=False)
            finally:
                logger.propagate, logger.handlers[:] = saved[0], saved[2]
                logger.setLevel(saved[1])
            assert r.exit_code == 0, r.stderr
            (shared / "result.json").write_text(r.stdout, encoding="utf-8")
    return shared


@pytest.fixture
def simulated_jilin_2023(_jilin_2023_run, tmp_path) -> tuple[dict, Path]:
    """The simulated Jilin 2023 year: its ``simulate --json`` output and a private copy of
    its work directory (the ledger at ``<dir>/jilin-quality-2022-2024-2023/ledger.db``)."""
    work = tmp_path / "simulated"
    shutil.copytree(_jilin_2023_run / "run", work)
    return json.loads((_jilin_2023_run / "result.json").read_text(encoding="utf-8")), work


@pytest.fixture
def jilin_text() -> str:
    return JILIN.read_text(encoding="utf-8")


@pytest.fixture
def calendar_copy(tmp_path):
    """Write a (possibly broken) copy of a calendar into a fresh calendar directory, with
    the shipped expert library beside it (a calendar's draws name it)."""

    def write(text: str, name: str = f"{JILIN_ID}.yaml") -> Path:
        d = tmp_path / "calendar"
        d.mkdir(exist_ok=True)
        (d / name).write_text(text, encoding="utf-8")
        library = CALENDARS / "experts" / f"{JILIN_ID}.yaml"
        (d / "experts").mkdir(exist_ok=True)
        shutil.copy(library, d / "experts" / library.name)
        return d / name

    return write


def plan_json(cli, year: int, *extra: str) -> dict:
    result = cli("plan", JILIN_ID, "--year", str(year), "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- databases
#
# Ledger tests run on a real SQLite file and on a real PostgreSQL server started for the
# session (tests/pg.py). Without PostgreSQL installed those cases are skipped, unless
# YEARWHEEL_REQUIRE_POSTGRES=1 (set by .ci/run), which turns the skip into a failure.


PG_TEMPLATE = "yearwheel_template"


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = PostgresServer().start()
    except (FileNotFoundError, subprocess.CalledProcessError, PermissionError) as exc:
        detail = getattr(exc, "output", b"") or b""
        message = f"PostgreSQL unavailable: {exc} {detail.decode(errors='replace')[-500:]}"
        if os.environ.get("YEARWHEEL_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    from sqlalchemy import create_engine, text

    from models.migrate import upgrade

    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {PG_TEMPLATE}"))
    upgrade(server.url(PG_TEMPLATE))
    server.admin = admin
    yield server
    admin.dispose()
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    from models.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "ledger.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, monkeypatch):
    """A migrated, empty ledger database; also exported as YEARWHEEL_DATABASE_URL."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        monkeypatch.setenv("YEARWHEEL_DATABASE_URL", url)
        yield url
        return
    server = request.getfixturevalue("pg_server")
    from sqlalchemy import text

    name = f"t_{uuid.uuid4().hex[:12]}"
    with server.admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE}"))
    url = server.url(name)
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", url)
    yield url
    with server.admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def smtp_server(tmp_path):
    """A real SMTP server on loopback; received messages in ``.messages``."""
    from notifications.sink import SmtpSink

    with SmtpSink(outbox_dir=tmp_path / "eml") as sink:
        yield sink


@pytest.fixture(autouse=True)
def _report_dir(tmp_path, monkeypatch):
    """The flows write HTML year reports; in tests, into the test's own folder."""
    monkeypatch.setenv("YEARWHEEL_REPORT_DIR", str(tmp_path / "reports-out"))


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """argon2id with the production cost (64 MiB, 3 passes) takes ~0.1 s a hash; the tests
    sign in hundreds of times, so they hash cheaply — the same code, other parameters."""
    from argon2 import PasswordHasher

    from yearwheel import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY", cheap.hash("an unknown user costs the same as a known one"))


@pytest.fixture(autouse=True)
def _engine_logger():
    """A CLI command run in-process detaches the ``yearwheel`` logger from the root (its
    records go to stderr only when asked); restore it, so one test's command does not hide
    the next test's records from ``caplog``."""
    import logging

    logger = logging.getLogger("yearwheel")
    saved = (logger.propagate, logger.level, list(logger.handlers))
    yield
    logger.propagate, logger.handlers[:] = saved[0], saved[2]
    logger.setLevel(saved[1])


# --------------------------------------------------------------------------- hang guards
#
# Speed is measured in benchmarks/, never asserted here. What a test may bound is a hang:
# a generous limit, apart from the property being tested (hypothesis runs with
# deadline=None; a case that has not finished in ``seconds`` fails with a clear message).


@contextlib.contextmanager
def hang_guard(seconds: float = 30.0, what: str = "the case"):
    """Fail (TimeoutError) if the block runs longer than ``seconds`` — main thread only."""

    def expired(signum, frame):
        raise TimeoutError(f"{what} ran for more than {seconds:g} s: a hang, not slowness")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- tiers
#
# Markers are given by what a test uses, so a new test lands in the right tier without
# anyone remembering: PostgreSQL (the database_url[postgresql] case or the pg_server
# fixture), a Prefect server, Chromium, the fuzz folder. Each of those is also "slow";
# modules that take seconds for other reasons say `pytestmark = pytest.mark.slow`.


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec else {}
        path = str(item.path)
        tiers = set()
        if "pg_server" in names or params.get("database_url") == "postgresql":
            tiers.add("postgres")
        if "prefect_server" in names or "/dashboard/test_prefect_ui" in path:
            tiers.add("prefect")
        if names & {"chromium", "visit"}:
            tiers.add("browser")
        if "/fuzz/" in path:
            tiers.add("fuzz")
        for tier in tiers | ({"slow"} if tiers else set()):
            item.add_marker(getattr(pytest.mark, tier))
