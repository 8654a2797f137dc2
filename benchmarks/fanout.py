"""A milestone fanning out at national scale: 300 enterprises × 5 measures — one task sheet
(任务交办单) of 1,500 rows, each measure handed to one of ten divisions — timed on SQLite
and PostgreSQL: the fan-out that creates the 1,500 tasks with their audit rows, a run with
nothing new (the rows compared, nothing written), and a corrected sheet (one measure
swapped: one task retired, one made). Beside them, in the same run, a raw Core insert of
1,500 task rows: the physical work the fan-out cannot avoid.

    python benchmarks/fanout.py [--enterprises 300] [--measures 5] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from common import Timer, databases, machine, postgres_available, table

TZ = dt.timezone(dt.timedelta(hours=8))

CALENDAR = """\
version: 1
programme:
  id: fanout-bench
  title: 问诊基准
  issuer: 基准厅
  years: {{first: 2023, last: 2023}}
participants:
  - {{id: province, name: 省厅, kind: province}}
{divisions}
forms:
  - id: sheets
    title: 任务交办单
    fields:
      - id: tasks
        label: 交办任务
        type: table
        columns:
          - {{id: task_no, label: 编号, type: string, max_length: 40}}
          - {{id: enterprise, label: 企业名称, type: string, max_length: 200}}
          - {{id: credit_code, label: 统一社会信用代码, type: string, max_length: 18}}
          - {{id: responsible, label: 承办处室, type: string, max_length: 100}}
  - id: feedback
    title: 落实情况
    fields:
      - {{id: result, label: 落实情况, type: text, max_length: 2000}}
workstreams:
  - id: clinic
    title: 问诊
    lead: [province]
    milestones:
      - id: task-sheets
        title: 发放任务交办单
        kind: submission
        due: {{rule: fixed, month: 9, day: 28}}
        form: sheets
        source: {{clause: 基准}}
      - id: measure-feedback
        title: 报送任务落实情况
        kind: submission
        due: {{rule: fixed, month: 12, day: 25}}
        form: feedback
        for_each:
          milestone: task-sheets
          field: tasks
          key: task_no
          name: enterprise
          keep: [credit_code]
          standing: submitted
          assignee: {{column: responsible}}
        source: {{clause: 基准}}
"""


def rows(enterprises: int, measures: int, swap: bool = False) -> list[dict[str, str]]:
    import random

    from models.creditcode import make

    rng = random.Random(7)
    out = []
    for e in range(enterprises):
        code = make(rng)
        for k in range(measures):
            out.append(
                {
                    "task_no": f"2023-{e:03d}-{k}",
                    "enterprise": f"第{e}号企业有限公司",
                    "credit_code": code,
                    "responsible": f"第{(e * measures + k) % 10}处",
                }
            )
    if swap:
        out[1] = {**out[1], "task_no": "2023-new-1"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enterprises", type=int, default=300)
    ap.add_argument("--measures", type=int, default=5)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b != "postgresql" or postgres_available()]

    from sqlalchemy import func, insert, select

    from models.tables import Task
    from yearwheel import usecases as R

    n = args.enterprises * args.measures
    tmp = Path(tempfile.mkdtemp(prefix="yearwheel-fanout-"))
    (tmp / "calendar").mkdir()
    divisions = "\n".join(f"  - {{id: div-{i}, name: 第{i}处, kind: division}}" for i in range(10))
    (tmp / "calendar" / "fanout-bench.yaml").write_text(CALENDAR.format(divisions=divisions), encoding="utf-8")
    at = dt.datetime(2023, 9, 20, 10, tzinfo=TZ)
    out_rows = []
    with databases(backends) as urls:
        for backend, url in urls.items():
            rt = R.open_runtime(calendar_dir=tmp / "calendar", programme="fanout-bench", database=url)
            try:
                R.advance(rt, at, send=False, roll=False)
                R.submit_form(
                    rt,
                    "fanout-bench",
                    2023,
                    "task-sheets",
                    "province",
                    {"tasks": rows(args.enterprises, args.measures)},
                    at=at,
                    actor="province",
                    source="bench",
                    send=False,
                )
                with Timer() as made:
                    r = R.advance(rt, at + dt.timedelta(minutes=1), send=False, roll=False)
                assert r.reconcile.fan_out.added == n, r.reconcile.fan_out
                with Timer() as again:
                    r = R.advance(rt, at + dt.timedelta(minutes=2), send=False, roll=False)
                assert r.reconcile.fan_out.added == 0
                R.submit_form(
                    rt,
                    "fanout-bench",
                    2023,
                    "task-sheets",
                    "province",
                    {"tasks": rows(args.enterprises, args.measures, swap=True)},
                    at=at + dt.timedelta(minutes=3),
                    actor="province",
                    source="bench",
                    send=False,
                )
                with Timer() as corrected:
                    r = R.advance(rt, at + dt.timedelta(minutes=4), send=False, roll=False)
                assert (r.reconcile.fan_out.added, r.reconcile.fan_out.retired) == (1, 1), r.reconcile.fan_out
                with rt.sessions.begin() as s:
                    mi_id, py_id = s.execute(select(Task.milestone_instance_id, Task.programme_year_id).limit(1)).one()
                    raw = [
                        {
                            "programme_year_id": py_id,
                            "milestone_instance_id": mi_id,
                            "participant": f"raw-{i}",
                            "item_key": "",
                            "state": "waiting",
                            "due": dt.date(2023, 12, 25),
                            "original_due": dt.date(2023, 12, 25),
                            "state_changed_at": at,
                        }
                        for i in range(n)
                    ]
                    with Timer() as physical:
                        s.execute(insert(Task), raw)
                    assert s.scalar(select(func.count()).select_from(Task).where(Task.participant.like("raw-%"))) == n
            finally:
                rt.close()
            out_rows.append(
                [
                    backend,
                    n,
                    f"{made.seconds:.3f}",
                    f"{again.seconds:.3f}",
                    f"{corrected.seconds:.3f}",
                    f"{physical.seconds:.3f}",
                    f"{made.seconds / physical.seconds:.1f}×",
                ]
            )
    table(
        f"fan-out of {args.enterprises} enterprises × {args.measures} measures ({machine()})",
        [
            "backend",
            "tasks",
            "advance making them, s",
            "advance, nothing new, s",
            "corrected sheet, s",
            "raw insert, s",
            "making ÷ raw",
        ],
        out_rows,
    )


if __name__ == "__main__":
    main()
