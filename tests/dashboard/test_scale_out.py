"""Scale-out, as ops run it: a `prefect server start` on PostgreSQL, the per-programme
`advance` deployments generated from the calendars (`yearwheel deployments`), one
PostgreSQL ledger, five programmes of which one is national-size, and process workers.
Runs of every deployment at the same instant deliver every message exactly once through a
real SMTP server and finish with two workers; the wall time is printed (and written to
ci-artifacts/scale-out.txt).

The national programme has 300 county bureaus here, and only the two-worker run is made
(CI's budget); set YEARWHEEL_SCALE_OUT_BUREAUS=2844 for the full size and
YEARWHEEL_SCALE_OUT_COMPARE=1 to run the same work with one worker first, on a second
ledger, and print both wall times."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.dashboard.conftest import BIN, REPO, _api

AT = "2023-03-20T09:00:00+08:00"  # the national clinic's recommendations open: a notice to every bureau


def calendars(folder, bureaus: int) -> list[str]:
    """The four other shipped programmes and the Jilin calendar widened to ``bureaus``."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from common import national_calendar  # the benchmarks' national calendar, one definition

    national_calendar(folder, bureaus)
    for p in (REPO / "calendar").glob("*.yaml"):
        if p.stem != "jilin-quality-2022-2024":
            shutil.copy(p, folder / p.name)
    return sorted(p.stem for p in folder.glob("*.yaml"))


def contacts(path, programmes, port: int) -> None:
    from models.ledger import LoadedProgramme

    ids: dict[str, None] = {}
    for f in programmes:
        for p in LoadedProgramme.read(f).spec.participants:
            ids.setdefault(p.id)
    lines = [
        "version: 1",
        "email:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        '  sender: "Y <y@scale.invalid>"',
        "  security: none",
    ]
    lines.append("participants:")
    for i in ids:
        lines += [f"  {i}:", f"    email: [{i}@scale.invalid]", f"    head: {{email: [head.{i}@scale.invalid]}}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_all_deployments(server, ledger: str, folder, contacts_file, workers: int) -> float:
    deployments = [d for d in _api(server.api + "/deployments/filter", {}) if d["name"].startswith("advance-")]
    t0 = time.perf_counter()
    runs = [
        _api(
            server.api + f"/deployments/{d['id']}/create_flow_run",
            {"parameters": {"at": AT, "calendar_dir": str(folder), "contacts": str(contacts_file)}},
        )
        for d in deployments
    ]
    procs = [
        subprocess.Popen(
            [
                str(BIN / "prefect"),
                "worker",
                "start",
                "--pool",
                "yearwheel",
                "--run-once",
                "--name",
                f"w{n}-{uuid.uuid4().hex[:6]}",
            ],
            env={**server.env, "YEARWHEEL_DATABASE_URL": ledger},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    deadline = time.monotonic() + 900
    while True:
        states = [_api(server.api + f"/flow_runs/{r['id']}")["state_type"] for r in runs]
        if all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in states):
            break
        if all(p.poll() is not None for p in procs):  # a run-once worker left runs behind: another round
            procs = [
                subprocess.Popen(
                    [str(BIN / "prefect"), "worker", "start", "--pool", "yearwheel", "--run-once"],
                    env={**server.env, "YEARWHEEL_DATABASE_URL": ledger},
                    cwd=REPO,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(workers)
            ]
        assert time.monotonic() < deadline, states
        time.sleep(1)
    wall = time.perf_counter() - t0
    for p in procs:
        p.wait(timeout=120)
    assert states == ["COMPLETED"] * len(runs), states
    return wall


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_programme_advances_on_its_own_deployment_and_each_message_goes_once(
    tmp_path, database_url, pg_server, smtp_server, prefect_server
):
    from yearwheel.deployments import render

    bureaus = int(os.environ.get("YEARWHEEL_SCALE_OUT_BUREAUS", "300"))
    folder = tmp_path / "calendar"
    ids = calendars(folder, bureaus)
    assert len(ids) == 5
    contacts_file = tmp_path / "contacts.yaml"
    contacts(contacts_file, sorted(folder.glob("*.yaml")), smtp_server.port)
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(render(folder), encoding="utf-8")
    server = prefect_server
    server.cli("work-pool", "create", "yearwheel", "--type", "process")
    server.cli("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file), env={"PWD": str(REPO)})

    runs = [(2, database_url)]
    if os.environ.get("YEARWHEEL_SCALE_OUT_COMPARE"):
        # a second, empty ledger: the same work once with one worker, then with two
        from models.migrate import upgrade

        second = f"t_{uuid.uuid4().hex[:12]}"
        with pg_server.admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {second}"))
        other = pg_server.url(second)
        upgrade(other)
        runs = [(1, other), (2, database_url)]

    walls = {}
    for workers, ledger in runs:
        before = len(smtp_server.messages)
        walls[workers] = run_all_deployments(server, ledger, folder, contacts_file, workers)
        engine = create_engine(ledger)
        try:
            from models.tables import Delivery, OutboxMessage

            with engine.connect() as c:
                sent = c.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sent"))
                programmes = set(c.scalars(select(OutboxMessage.programme).distinct()))
                tries = Counter(c.scalars(select(Delivery.outbox_id).where(Delivery.outcome == "sent")))
        finally:
            engine.dispose()
        got = smtp_server.messages[before:]
        assert sent > bureaus and len(got) == sent  # every message delivered …
        assert max(tries.values()) == 1  # … each exactly once
        assert len({m["Message-ID"] for m in got}) == len(got)
        assert "national-quality" in programmes and len(programmes) >= 2
    line = f"scale-out: 5 programmes (one with {bureaus:,} bureaus), {sent:,} messages each run — two workers {walls[2]:.1f} s"
    if 1 in walls:
        line += f", one worker {walls[1]:.1f} s ({walls[1] / walls[2]:.2f}×)"
    print(line)
    out = REPO / "ci-artifacts"
    out.mkdir(exist_ok=True)
    (out / "scale-out.txt").write_text(line + "\n", encoding="utf-8")
