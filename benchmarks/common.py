"""Shared by the benchmark scripts: the machine line, a table printer, an SQL statement
counter, databases (a SQLite file and a throwaway PostgreSQL cluster), and the
national-scale calendar (the Jilin calendar with 2,844 county-level bureaus)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import yaml
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python benchmarks/x.py` from anywhere

JILIN = "jilin-quality-2022-2024"
NATIONAL = "national-quality"
COUNTIES = 2844  # county-level divisions of mainland China (2023)


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    return f"{platform.machine()}, {cpus} cores{mem}, Python {platform.python_version()}, {dt.date.today().isoformat()}"


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


class Statements:
    """Counts the SQL statements an engine sends while active (executemany counts once)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.n = 0

    def _count(self, *args) -> None:
        self.n += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0


def national_calendar(directory: Path, counties: int = COUNTIES) -> Path:
    """The Jilin calendar, its city groups widened to ``counties`` county-level bureaus."""
    src = ROOT / "calendar" / f"{JILIN}.yaml"
    doc = yaml.safe_load(src.read_text(encoding="utf-8"))
    doc["programme"]["id"] = NATIONAL
    ids = [f"county-{i:04d}" for i in range(1, counties + 1)]
    doc["participants"] += [
        {"id": c, "name": f"第{i}县市场监督管理局", "kind": "county", "parent": "province"} for i, c in enumerate(ids, start=1)
    ]
    for g in doc["groups"]:
        if g["id"] in ("cities-prefectures", "city-bureaus"):
            g["members"] = g["members"] + ids
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "calendar" / "workdays", directory / "workdays", dirs_exist_ok=True)
    out = directory / f"{NATIONAL}.yaml"
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    # its expert library: Jilin's, for this programme (the visit reports go to drawn experts)
    (directory / "experts").mkdir(exist_ok=True)
    library = (ROOT / "calendar" / "experts" / f"{JILIN}.yaml").read_text(encoding="utf-8")
    (directory / "experts" / f"{NATIONAL}.yaml").write_text(
        library.replace(f"programme: {JILIN}", f"programme: {NATIONAL}"), encoding="utf-8"
    )
    return out


@contextlib.contextmanager
def databases(which: list[str]) -> Iterator[dict[str, str]]:
    """Fresh, migrated ledgers: {'sqlite': url, 'postgresql': url} as asked."""
    from models.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="yearwheel-bench-"))
    urls: dict[str, str] = {}
    pg = None
    try:
        if "sqlite" in which:
            urls["sqlite"] = f"sqlite:///{tmp / 'ledger.db'}"
        if "postgresql" in which:
            from tests.pg import PostgresServer

            pg = PostgresServer().start()
            from sqlalchemy import create_engine, text

            admin = create_engine(pg.url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text("CREATE DATABASE bench"))
            admin.dispose()
            urls["postgresql"] = pg.url("bench")
        for url in urls.values():
            upgrade(url)
        yield urls
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def postgres_available() -> bool:
    from tests.pg import find_bin

    return bool(find_bin("initdb"))
