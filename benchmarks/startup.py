"""Start-up: how long a whole `yearwheel` process takes for commands that run no flow,
beside `python -c pass` and `prefect --help` measured in the same run (median of N).

Goals (issue "One application core"): `yearwheel --help` ≤ 0.3 s, `validate` and `plan`
≤ 1 s on this machine. `--baseline DIR` also times an older checkout's CLI (e.g. a
`git worktree` of the commit before) with the same interpreter and packages.

Python writes no bytecode where PYTHONDONTWRITEBYTECODE is set (it is, in this
workplace): every process then compiles every module it imports. The table says which
state the run measured; `python -m compileall` (or `UV_COMPILE_BYTECODE=1 uv sync`) gives
what a user sees from the second run on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import machine, table

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(cmd: list[str], n: int, env: dict | None = None) -> float:
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, env=env)
        runs.append(time.perf_counter() - t0)
        if r.returncode not in (0, 2):
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode(errors='replace')[-500:]}")
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5, help="runs per command (the median is shown)")
    ap.add_argument("--baseline", type=Path, help="an older checkout whose CLI (flows.cli:main) to time as well")
    args = ap.parse_args()
    machine()
    bytecode = "no bytecode written (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "bytecode cached"
    py = sys.executable
    cases = [
        ("python -c pass", [py, "-c", "pass"], None),
        ("yearwheel --help", [str(BIN / "yearwheel"), "--help"], 0.3),
        ("yearwheel validate", [str(BIN / "yearwheel"), "validate"], 1.0),
        ("yearwheel plan jilin 2023", [str(BIN / "yearwheel"), "plan", "jilin-quality-2022-2024", "--year", "2023"], 1.0),
        ("prefect --help", [str(BIN / "prefect"), "--help"], None),
    ]
    if args.baseline:
        old = [
            "-c",
            f"import sys; sys.path.insert(0, {str(args.baseline)!r}); from flows.cli import main; sys.argv[0] = 'yearwheel'; main()",
        ]
        cases += [
            ("before: yearwheel --help", [py, *old, "--help"], None),
            ("before: yearwheel validate", [py, *old, "validate"], None),
        ]
    base = None
    rows = []
    for name, cmd, goal in cases:
        s = timed(cmd, args.n)
        base = base or s
        rows.append(
            [name, f"{s:.3f}", f"{s / base:.0f}×", "—" if goal is None else f"≤ {goal:g} s: {'met' if s <= goal else 'MISSED'}"]
        )
    table(f"whole-process start-up, median of {args.n} ({bytecode})", ["command", "seconds", "vs python -c pass", "goal"], rows)


if __name__ == "__main__":
    main()
