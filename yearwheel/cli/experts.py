"""``yearwheel experts draw``: the double-random, one-public expert draw."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import CalendarDirOpt, YearOpt, calendar_folder, fail, runtime, use_prefect

app = typer.Typer()
experts_app = typer.Typer(help="Experts for clinic visits: the reproducible public draw.", no_args_is_help=True)
app.add_typer(experts_app, name="experts")


@experts_app.command("draw")
def draw(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    milestone: Annotated[str, typer.Option("--milestone", help="the visits milestone, e.g. clinic-visits")],
    seed: Annotated[str, typer.Option("--seed", help="the public seed, announced before the draw")],
    library: Annotated[
        Optional[Path], typer.Option("--library", help="expert library (default: calendar/experts/<programme>.yaml)")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--output", help="the public record, JSON (a .md beside it)")] = None,
    prefect: Annotated[
        Optional[bool],
        typer.Option("--prefect/--no-prefect", help="also publish a Prefect artifact (default: when PREFECT_API_URL is set)"),
    ] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Assign experts to the enterprises of the year (the library's enterprises_from) at
    random, excluding conflicts (same city, declared ties), balancing load; the same seed
    and inputs give the same result. The draw is recorded in the ledger: the next advance
    opens the drawn experts' tasks."""
    from models.experts import DrawError

    from yearwheel.usecases import draw_experts, expert_library

    out = out or Path(f"expert-draw-{programme_id}-{year}-{milestone}.json")
    try:
        if use_prefect(prefect):
            from flows.experts import experts_draw

            lib = library or calendar_folder(calendar_dir) / "experts" / f"{programme_id}.yaml"
            rec = experts_draw(
                programme_id, year, milestone, seed, str(out), str(lib), str(calendar_dir) if calendar_dir else None
            )
            n, loads = len(rec["assignments"]), sorted(rec["load"].values())
        else:
            with runtime(calendar_dir, programme=programme_id) as rt:
                r, _ = draw_experts(rt, programme_id, year, milestone, seed, expert_library(rt, programme_id, library), out)
            n, loads = len(r.assignments), sorted(r.load.values())
    except DrawError as exc:
        raise fail(str(exc)) from None
    print(f"wrote {out} and {out.with_suffix('.md')}: {n} enterprises, {len(loads)} experts, load {loads[0]}–{loads[-1]} each")
    print("recorded in the ledger: the next `yearwheel advance` opens the drawn experts' tasks")
