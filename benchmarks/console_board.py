"""The console's board at national scale: the Jilin calendar with 2,844 county bureaus,
one page of the board (``yearwheel.board.board``, what ``GET /console/p/…`` renders) timed
as server time — the data and the HTML — on SQLite and PostgreSQL, with its SQL
statement count, beside the same board of a 200-bureau programme measured in the same run.

Goal (issue "The coordinator's workbench"): ≤ 300 ms of server time per page, and a
statement count that does not grow with the number of bureaus (or of those shown).

    python benchmarks/console_board.py [--counties N] [--backends sqlite,postgresql] [-n 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import NATIONAL, Statements, Timer, databases, machine, national_calendar, postgres_available, table
from national import YEAR, at, contacts_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=2844)
    ap.add_argument("--baseline-counties", type=int, default=200)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("-n", type=int, default=5, help="renders per case (the median is shown)")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b != "postgresql" or postgres_available()]

    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from models.ledger import LoadedProgramme, compile_year
    from models.reconcile import reconcile
    from models.vocabulary import ROLES
    from models.yearview import LIGHTS, workdays_text
    from yearwheel import board as B
    from yearwheel import usecases as R
    from yearwheel.accounts import Actor

    env = Environment(
        loader=FileSystemLoader(Path(B.__file__).parent / "web" / "templates"), autoescape=select_autoescape(default=True)
    )
    template = env.get_template("console_board.html.j2")
    user = Actor(1, "bench", "bench", "coordinator", ("*",))
    when = at("2023-06-20T10:00")
    print(f"machine: {machine()}")
    rows = []
    for counties in (args.baseline_counties, args.counties):
        tmp = Path(tempfile.mkdtemp(prefix="yearwheel-board-"))
        contacts = contacts_file(tmp, LoadedProgramme.read(national_calendar(tmp / "calendar", counties)).spec)
        with databases(backends) as urls:
            for backend, url in urls.items():
                rt = R.open_runtime(calendar_dir=tmp / "calendar", programme=NATIONAL, contacts=contacts, database=url)
                try:
                    prog = rt.programmes[0]
                    with rt.sessions.begin() as s:
                        compile_year(s, prog, YEAR, rt.cal, at=at("2023-01-03T09:00"))
                    with rt.sessions.begin() as s:
                        reconcile(s, prog, rt.cal, rt.messenger, when)  # open and mark: real colours
                    cases = [
                        ("first page", {}),
                        ("last page", {"page": 10**6}),
                        ("overdue only", {"light": "overdue"}),
                        ("search one bureau", {"q": "第17县"}),
                    ]
                    for name, kw in cases:
                        times, statements = [], set()
                        for _ in range(args.n):
                            with Statements(rt.engine) as st, Timer() as t:
                                b = B.board(rt, user, NATIONAL, YEAR, when, **kw)
                                html = template.render(
                                    user=user,
                                    csrf="x",
                                    b=b,
                                    filters={"light": "", "q": "", "group": "", "workstream": ""},
                                    lights=LIGHTS,
                                    workdays_text=workdays_text,
                                    roles=ROLES,
                                    prefect_runs=None,
                                )
                            times.append(t.seconds)
                            statements.add(st.n)
                        rows.append(
                            [
                                backend,
                                f"{counties:,}",
                                name,
                                f"{len(b.rows)} × {len(b.milestones)}",
                                f"{statistics.median(times) * 1000:.0f}",
                                "/".join(map(str, sorted(statements))),
                                f"{len(html) // 1024} KB",
                            ]
                        )
                finally:
                    rt.close()
    table(
        f"the console's board, one page (server time: data + HTML, median of {args.n}; goal ≤ 300 ms)",
        ["backend", "bureaus", "page", "shown", "ms", "SQL statements", "HTML"],
        rows,
    )


if __name__ == "__main__":
    main()
