"""Prefect flow ``experts-draw``: the double-random expert draw, published as a keyed
markdown artifact (``expert-draw-<programme>-<year>-<milestone>``) besides the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from prefect import flow

from flows import runtime as R
from models.timeline import catalog


def library_path(calendar_dir: Path, programme: str, explicit: Path | None) -> Path:
    return explicit or catalog.calendar_dir(calendar_dir) / "experts" / f"{programme}.yaml"


def run_draw(rt: R.Runtime, programme: str, year: int, milestone: str, seed: str, library: Path, out: Path):  # noqa: ANN201
    """Draw from the ledger's recommended enterprises; write ``out`` (JSON) and ``out``.md.
    Returns (record, markdown)."""
    from models import experts as X

    prog = rt.programme(programme)
    lib, lib_sha = X.read_library(library)
    if lib.programme != programme:
        raise X.DrawError(f"{library}: the library is for {lib.programme}, not {programme}")
    cfg = lib.draws.get(milestone)
    if cfg is None:
        raise X.DrawError(f"{library}: no draw for milestone {milestone!r}; it has: {', '.join(lib.draws) or 'none'}")
    with rt.sessions() as s:
        enterprises = X.ledger_enterprises(s, programme, year, cfg.enterprises_from, cfg.field)
    rec = X.draw(lib, lib_sha, programme, year, milestone, seed, enterprises)
    md = X.record_markdown(rec, prog.names)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((out, json.dumps(rec.as_json(), ensure_ascii=False, indent=2) + "\n"), (out.with_suffix(".md"), md)):
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return rec, md


@flow(name="experts-draw", flow_run_name="expert draw {programme} {year} {milestone}")
def experts_draw(programme: str, year: int, milestone: str, seed: str, output: str, library: Optional[str] = None,
                 calendar_dir: Optional[str] = None) -> dict[str, Any]:
    """The double-random expert draw for one milestone, reproducible from the public seed.

    Args:
        programme: the programme id.
        year: the programme year.
        milestone: the milestone whose visits are drawn (e.g. clinic-visits).
        seed: the public seed, published before the draw.
        output: the JSON file of the public record (a .md beside it).
        library: the expert library (default: calendar/experts/<programme>.yaml).
        calendar_dir: the calendar folder.
    """
    from prefect.artifacts import create_markdown_artifact

    from flows.artifacts import key

    with R.opened(calendar_dir, programme) as rt:
        lib = library_path(Path(calendar_dir) if calendar_dir else None, programme, Path(library) if library else None)
        rec, md = run_draw(rt, programme, year, milestone, seed, lib, Path(output))
    create_markdown_artifact(md, key=key("expert-draw", programme, year, milestone), description=f"seed {seed}")
    return rec.as_json()
