"""Faults: the mail server going down mid-batch, the sender killed mid-dispatch, the
database unreachable at start. Each ends with nothing lost and nothing doubled beyond
what README's guarantee allows. (A calendar edited mid-year: test_advance.py.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select, update

from models.tables import Delivery, OutboxMessage
from notifications.sink import SmtpSink
from yearwheel import usecases as R
from tests.engine.conftest import World, at, contacts_yaml, dispatch, ledger
from tests.pg import free_port

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters

YEARWHEEL = Path(sys.executable).parent / "yearwheel"


def widen(world: World, cities: int) -> list[str]:
    """Add ``cities`` more city bureaus to the demo calendar, each with an email address."""
    path = world.calendar_dir / "engine-demo.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    ids = [f"city-{i:03d}" for i in range(cities)]
    doc["participants"] += [{"id": c, "name": f"第{i}市市场监督管理局", "kind": "city"} for i, c in enumerate(ids)]
    doc["groups"][0]["members"] += ids
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    extra = "".join(f"  {c}:\n    email: [office@{c}.example.gov.cn]\n" for c in ids)
    world.write_contacts(contacts_yaml(world.smtp.port, extra=extra))
    return [f"office@{c}.example.gov.cn" for c in ids]


def settled(count, quiet: float = 1.0, guard: float = 60.0) -> int:
    """``count()`` once it has stopped changing for ``quiet`` seconds (a hang guard of
    ``guard`` seconds) — instead of sleeping a fixed time and hoping."""
    end = time.monotonic() + guard
    last, since = count(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError(f"still changing after {guard} s")


class StopsAfter:
    """The engine's sender, with the mail server switched off after ``n`` deliveries."""

    def __init__(self, messenger, sink: SmtpSink, n: int) -> None:
        self.messenger, self.sink, self.n, self.calls = messenger, sink, n, 0

    def send(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n + 1:
            self.sink.__exit__(None, None, None)  # the server goes down
        return self.messenger.send(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.messenger, name)


def test_mail_server_down_for_part_of_a_batch_loses_nothing_and_doubles_nothing(world):
    addresses = widen(world, 17)  # 20 cities: 20 opening notices
    rt = world.runtime()
    R.advance(rt, at("2023-12-01T09:00"), send=False)
    sender = StopsAfter(rt.messenger, world.smtp, 8)
    r = dispatch(rt, at("2023-12-01T09:00"), messenger=sender, workers=1)
    assert (r.sent, r.failed, r.dead) == (8, 12, 0)
    assert len(world.smtp.messages) == 8
    with ledger(world) as s:
        states = Counter(s.scalars(select(OutboxMessage.state)))
        outcomes = Counter(s.scalars(select(Delivery.outcome)))
    assert states == {"sent": 8, "pending": 12}  # failed-transient: back in the queue with a backoff
    assert outcomes["failed"] == 12 and outcomes["sent"] == 8

    # The server comes back on the same port; a run before the backoff sends nothing, after it the rest.
    with SmtpSink(port=world.smtp.port) as back:
        r = dispatch(rt, at("2023-12-01T09:01"), workers=4)
        assert r.sent == 0 and back.messages == []
        r = dispatch(rt, at("2023-12-01T09:10"), workers=4)
        assert (r.sent, r.failed) == (12, 0)
        everyone = [m["To"] for m in world.smtp.messages] + [m["To"] for m in back.messages]
    assert Counter(everyone) == Counter(
        addresses + ["office@punctual.example.gov.cn", "office@late.example.gov.cn", "office@exempt.example.gov.cn"]
    )


def _advance_cmd(world: World, when: str) -> list[str]:
    return [
        str(YEARWHEEL),
        "advance",
        "--at",
        when,
        "--no-prefect",
        "--json",
        "--calendar-dir",
        str(world.calendar_dir),
        "--contacts",
        str(world.contacts),
    ]


def test_a_sender_killed_mid_dispatch_is_finished_by_the_next_run(world, tmp_path):
    """SIGKILL while messages are on the wire: the next run (after the lease) sends the rest;
    a message can arrive twice only if it was in flight when the process died — at most
    one per worker thread (8)."""
    world.smtp.__exit__(None, None, None)
    slow = SmtpSink(port=world.smtp.port, delay=0.05).__enter__()
    try:
        addresses = widen(world, 57)  # 60 messages at 50 ms each, 8 at a time
        env = {**os.environ, "YEARWHEEL_DATABASE_URL": world.database_url}
        proc = subprocess.Popen(_advance_cmd(world, "2023-12-01T09:00"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(slow.messages) < 10 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        got_before = settled(lambda: len(slow.messages))  # messages already handed to the server land
        assert 10 <= got_before < 60
        with ledger(world) as s:
            in_flight = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sending"))
            # the lease is measured on the real clock: age the claims past it, as 10 minutes would
            for row_id, claimed in s.execute(
                select(OutboxMessage.id, OutboxMessage.claimed_at).where(OutboxMessage.state == "sending")
            ).all():
                s.execute(
                    update(OutboxMessage).where(OutboxMessage.id == row_id).values(claimed_at=claimed - dt.timedelta(minutes=11))
                )
            s.commit()
        assert in_flight > 0

        r = subprocess.run(_advance_cmd(world, "2023-12-01T09:00"), env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["dispatch"]["reclaimed"] == in_flight
        received = Counter(m["To"] for m in slow.messages)
        expected = set(addresses) | {
            "office@punctual.example.gov.cn",
            "office@late.example.gov.cn",
            "office@exempt.example.gov.cn",
        }
        assert set(received) == expected  # nothing lost
        doubled = sum(n - 1 for n in received.values())
        assert doubled <= 8  # at most the messages on the wire when the process died, one per worker
        with ledger(world) as s:
            assert Counter(s.scalars(select(OutboxMessage.state))) == {"sent": 60}
    finally:
        slow.__exit__(None, None, None)


def test_database_unreachable_at_start_is_a_clear_error_and_writes_nothing(cli, tmp_path, smtp_server):
    world = World(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none", smtp_server)
    port = free_port()  # nothing listens here
    url = f"postgresql+psycopg://yearwheel@127.0.0.1:{port}/ledger"
    os.environ["YEARWHEEL_DATABASE_URL"] = url
    try:
        r = cli(
            "advance",
            "--at",
            "2023-12-01T09:00",
            "--calendar-dir",
            world.calendar_dir,
            "--contacts",
            world.contacts,
            "--no-prefect",
        )
    finally:
        del os.environ["YEARWHEEL_DATABASE_URL"]
    assert r.exit_code == 1
    assert f"cannot reach the database postgresql+psycopg://yearwheel@127.0.0.1:{port}/ledger" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert smtp_server.messages == []
    # SQLite: a missing file is not created by asking
    missing = tmp_path / "nowhere" / "ledger.db"
    os.environ["YEARWHEEL_DATABASE_URL"] = f"sqlite:///{missing}"
    try:
        r = cli("advance", "--at", "2023-12-01T09:00", "--calendar-dir", world.calendar_dir, "--no-prefect")
    finally:
        del os.environ["YEARWHEEL_DATABASE_URL"]
    assert r.exit_code == 1 and "does not exist: run `yearwheel db upgrade`" in r.stderr
    assert not missing.exists() and not missing.parent.exists()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_database_going_away_mid_run_leaves_no_partial_state(world, pg_server):
    """A reconcile is one transaction: a connection dropped before commit leaves the ledger as it was."""
    from sqlalchemy import text

    from models.reconcile import reconcile
    from models.tables import Task

    rt = world.runtime()
    with pytest.raises(Exception):  # noqa: B017 — whichever error the driver raises
        with rt.sessions.begin() as s:
            reconcile(s, rt.programmes[0], rt.cal, rt.messenger, at("2023-12-01T09:00"))
            name = world.database_url.rsplit("/", 1)[1]
            with pg_server.admin.connect() as c:  # the server drops this session
                c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
    rt.close()
    with ledger(world) as s:
        assert s.scalar(select(func.count()).select_from(Task)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    r = world.advance("2023-12-01T09:00")  # and the next run does it all
    assert (r.reconcile.opened, r.dispatch.sent) == (3, 3)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_advance_says_one_line_when_the_database_goes_away_mid_run(world, pg_server):
    """The database stops accepting connections while `advance` is sending: the command
    ends with one line naming the database, exit 1, no traceback — and what it had not
    finished is still in the outbox for the next run."""
    from sqlalchemy import text

    world.smtp.delay = 0.3
    addresses = widen(world, 17)
    env = {**os.environ, "YEARWHEEL_DATABASE_URL": world.database_url}
    proc = subprocess.Popen(
        _advance_cmd(world, "2023-12-01T09:00")[:-1] + [str(world.contacts)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not world.smtp.messages and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    name = world.database_url.rsplit("/", 1)[1]
    with pg_server.admin.connect() as c:
        c.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        with pg_server.admin.connect() as c:
            c.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
    assert proc.returncode == 1, err
    assert "Traceback" not in out + err
    assert "error: the database" in err and "failed mid-run" in err
    world.smtp.delay = 0
    with ledger(world) as s:  # the claims of the dead run age past the lease, as 10 minutes would
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "sending")
            .values(claimed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=11))
        )
        s.commit()
    r = world.advance("2023-12-01T09:00")
    assert r.reconcile.failures == {}
    with ledger(world) as s:
        states = Counter(s.scalars(select(OutboxMessage.state)))
    assert states == {"sent": 20}  # nothing lost
    got = Counter(m["To"] for m in world.smtp.messages)
    assert set(got) == set(addresses) | {
        "office@punctual.example.gov.cn",
        "office@late.example.gov.cn",
        "office@exempt.example.gov.cn",
    }
