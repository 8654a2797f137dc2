"""Prefect flow ``experts-draw``: the double-random expert draw, published as a keyed
markdown artifact (``expert-draw-<programme>-<year>-<milestone>``) besides the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from prefect import flow

from flows.run_log import run_log
from yearwheel import usecases as R


@flow(name="experts-draw", flow_run_name="expert draw {programme} {year} {milestone}")
def experts_draw(
    programme: str,
    year: int,
    milestone: str,
    seed: str,
    output: str,
    library: Optional[str] = None,
    calendar_dir: Optional[str] = None,
) -> dict[str, Any]:
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

    with run_log(), R.opened(calendar_dir, programme) as rt:
        lib = R.expert_library(rt, programme, Path(library) if library else None)
        rec, md = R.draw_experts(rt, programme, year, milestone, seed, lib, Path(output))
    create_markdown_artifact(md, key=key("expert-draw", programme, year, milestone), description=f"seed {seed}")
    return rec.as_json()
