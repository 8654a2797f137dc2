"""Every benchmark, one after the other. `--smoke` runs each at a small size (CI checks
they still run and their assertions hold; the figures in RESULTS.md come from full runs).

    python benchmarks/run_all.py [--smoke]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    smoke = "--smoke" in sys.argv[1:]
    runs = [
        ["national.py", *(["--counties", "200"] if smoke else [])],
        ["dispatch_email.py", *(["--messages", "200"] if smoke else [])],
        ["startup.py", *(["-n", "1"] if smoke else [])],
        ["console_board.py", *(["--counties", "100", "--baseline-counties", "20", "-n", "1"] if smoke else [])],
        ["fanout.py", *(["--enterprises", "30", "--measures", "2"] if smoke else [])],
        ["noop.py", *(["--programmes", "2", "--counties", "50"] if smoke else [])],
        *([] if smoke else [["simulate_jilin.py"]]),  # CI runs the simulation itself (the README's main command)
    ]
    for args in runs:
        print(f"\n=== benchmarks/{' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], check=True)


if __name__ == "__main__":
    main()
