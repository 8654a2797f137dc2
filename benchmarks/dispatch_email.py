"""Dispatch ~2,000 emails from the outbox to a real SMTP server on loopback (aiosmtpd),
through apprise, with the engine's bounded worker pool. Goal: ≥ 100 emails per second.

The outbox is filled the real way: a national-style calendar with enough county bureaus
that the first `advance` queues ~2,000 opening notices and reminders.

    python benchmarks/dispatch_email.py [--messages 2000] [--workers 8] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import NATIONAL, Statements, Timer, databases, machine, national_calendar, table

PER_COUNTY = 2  # the first advance of the Jilin-style year queues two messages per bureau


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--workers", default="1,8", help="worker pool sizes to compare")
    ap.add_argument("--backend", default="sqlite")
    args = ap.parse_args()

    from yearwheel import usecases as R
    from models.outbox import dispatch
    from models.reconcile import reconcile
    from models.ledger import LoadedProgramme
    import subprocess
    import sys
    from sqlalchemy import delete, func, select, update

    from models.tables import Delivery, OutboxMessage
    from national import at, contacts_file

    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="yearwheel-dispatch-"))
    counties = max(args.messages // PER_COUNTY - 11, 1)
    cal_file = national_calendar(tmp / "calendar", counties)
    prog = LoadedProgramme.read(cal_file)
    rows = []
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("smtp_process.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(sink.stdout.readline())
    sent_total = 0
    with databases([args.backend]) as urls:
        contacts = contacts_file(tmp, prog.spec)
        contacts.write_text(contacts.read_text(encoding="utf-8").replace("port: 2525", f"port: {port}"), encoding="utf-8")
        rt = R.open_runtime(calendar_dir=tmp / "calendar", programme=NATIONAL, contacts=contacts, database=urls[args.backend])
        try:
            when = at("2023-03-20T09:00")
            with rt.sessions.begin() as s:
                reconcile(s, rt.programmes[0], rt.cal, rt.messenger, when)
            with rt.sessions() as s:
                queued = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "pending"))
            for workers in [int(w) for w in args.workers.split(",")]:
                with rt.sessions.begin() as s:  # the same batch again for each pool size
                    s.execute(delete(Delivery))
                    s.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.state == "sent")
                        .values(state="pending", attempts=0, sent_at=None, claimed_by=None, claimed_at=None)
                    )
                with Statements(rt.engine) as st, Timer() as t:
                    report = dispatch(
                        rt.sessions,
                        rt.messenger,
                        programmes={p.id: p for p in rt.programmes},
                        cal=rt.cal,
                        at=when,
                        workers=workers,
                    )
                assert report.sent == queued and not report.errors, (report.as_json(), queued)
                sent_total += report.sent
                rows.append(
                    [
                        args.backend,
                        workers,
                        f"{report.sent:,}",
                        f"{t.seconds:.2f}",
                        f"{report.sent / t.seconds:.0f}/s",
                        f"{report.sent / t.seconds / 100:.2f}×",
                        st.n,
                    ]
                )
        finally:
            rt.close()
    received = int(sink.communicate("")[0].strip())
    assert received == sent_total, (received, sent_total)
    print(f"the SMTP server (its own process) received {received:,} messages = {sent_total:,} sent")
    table(
        "dispatch to a loopback SMTP server in another process (apprise, one connection per message) — goal ≥ 100/s",
        ["backend", "workers", "emails sent", "seconds", "rate", "vs goal", "SQL statements"],
        rows,
    )


if __name__ == "__main__":
    main()
