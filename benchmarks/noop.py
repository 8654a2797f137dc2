"""Work that grows with what is due, not with what is open: ten programmes of national
size (the Jilin calendar with 2,844 county bureaus each, ~143,000 tasks, ~140,000 outbox
rows after a busy day) in one ledger; an ``advance`` of all of them (no sending) when
nothing is due — with every task's next step instant known, and, as the baseline in the
same run, with them all forgotten (every awaiting task and its outbox keys read, as before
``tasks.next_step_at``). Goal: ≤ 0.1 s on PostgreSQL.

    python benchmarks/noop.py [--programmes 10] [--counties 2844] [--backends postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from common import NATIONAL, Timer, databases, machine, national_calendar, postgres_available, table
from national import at, contacts_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programmes", type=int, default=10)
    ap.add_argument("--counties", type=int, default=2844)
    ap.add_argument("--backends", default="postgresql,sqlite")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b != "postgresql" or postgres_available()]

    from sqlalchemy import func, select, update

    from models.ledger import LoadedProgramme
    from models.tables import OutboxMessage, Task
    from yearwheel import usecases as R

    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="yearwheel-noop-"))
    one = national_calendar(tmp / "one", args.counties)
    folder = tmp / "calendar"
    shutil.copytree(tmp / "one" / "workdays", folder / "workdays")
    (folder / "experts").mkdir(parents=True)
    text = one.read_text(encoding="utf-8")
    library = (tmp / "one" / "experts" / f"{NATIONAL}.yaml").read_text(encoding="utf-8")
    for n in range(1, args.programmes + 1):
        pid = f"{NATIONAL}-{n:02d}"
        (folder / f"{pid}.yaml").write_text(text.replace(f"id: {NATIONAL}\n", f"id: {pid}\n", 1), encoding="utf-8")
        (folder / "experts" / f"{pid}.yaml").write_text(library.replace(NATIONAL, pid), encoding="utf-8")
    contacts = contacts_file(tmp, LoadedProgramme.read(one).spec)
    rows = []
    with databases(backends) as urls:
        for backend, url in urls.items():
            rt = R.open_runtime(calendar_dir=folder, contacts=contacts, database=url)
            try:
                assert len(rt.programmes) == args.programmes, rt.broken
                busy = at("2023-04-10T09:00")
                for instant in (at("2023-03-20T09:00"), busy):
                    R.advance(rt, instant, send=False, roll=False)
                with rt.sessions() as s:
                    tasks = s.scalar(select(func.count()).select_from(Task))
                    queued = s.scalar(select(func.count()).select_from(OutboxMessage))

                def noop(minutes: int, rt: R.Runtime = rt, busy: dt.datetime = busy) -> float:
                    with Timer() as t:
                        r = R.advance(rt, busy + dt.timedelta(minutes=minutes), send=False, roll=False)
                    assert sum(r.reconcile.queued.values()) == 0 and not r.reconcile.failures
                    return t.seconds

                noop(1)  # warm: the first run after the busy one reckons the instants
                known = sorted(noop(m) for m in range(2, 7))[2]  # median of 5
                afresh = []
                for m in range(7, 10):
                    with rt.sessions.begin() as s:
                        s.execute(update(Task).values(next_step_at=None))
                    afresh.append(noop(m))
                baseline = sorted(afresh)[1]
                rows.append(
                    [
                        backend,
                        f"{args.programmes} × {args.counties:,}",
                        f"{tasks:,}",
                        f"{queued:,}",
                        f"{baseline:.2f}",
                        f"{known:.3f}",
                        f"{baseline / known:.0f}×",
                    ]
                )
            finally:
                rt.close()
    table(
        "advance with nothing due over ten national-size programmes (no sending) — goal ≤ 0.1 s on PostgreSQL",
        [
            "backend",
            "programmes × bureaus",
            "tasks",
            "outbox rows",
            "every task read (baseline) s",
            "next steps known s",
            "ratio",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
