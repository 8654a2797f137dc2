"""The Jilin 2023 year simulated end to end (`yearwheel simulate`, the README's main
command) with and without Prefect, and the Prefect share of the wall time.

    python benchmarks/simulate_jilin.py [--year 2023] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import JILIN, ROOT, machine, table


def run(year: int, prefect: bool, workdir: Path) -> dict:
    exe = Path(sys.executable).parent / "yearwheel"
    cmd = [
        str(exe),
        "simulate",
        JILIN,
        "--year",
        str(year),
        "--json",
        "--workdir",
        str(workdir),
        "--calendar-dir",
        str(ROOT / "calendar"),
        "--prefect" if prefect else "--no-prefect",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"simulate failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout)["summary"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--year", type=int, default=2023)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows = []
    for prefect in (True, False):
        for _ in range(args.runs):
            s = run(args.year, prefect, Path(tempfile.mkdtemp(prefix="yearwheel-sim-")))
            sec = s["seconds"]
            share = sec["prefect"] / sec["wall"] if sec["wall"] else 0
            rows.append(
                [
                    "Prefect (ephemeral server)" if prefect else "--no-prefect",
                    s["advance_runs"],
                    s["submissions"],
                    s["emails_sent"],
                    s["emails_received_by_smtp"],
                    sec["wall"],
                    sec["engine"],
                    sec["prefect"],
                    sec["prefect_startup"],
                    f"{share:.0%}",
                ]
            )
    table(
        f"simulate {JILIN} {args.year} end to end",
        [
            "mode",
            "advances",
            "submissions",
            "emails sent",
            "received",
            "wall s",
            "engine s",
            "Prefect s",
            "of which server start s",
            "Prefect share",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
