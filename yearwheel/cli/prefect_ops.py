"""``yearwheel prefect apply``: the Prefect Automations shipped with Yearwheel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import CalendarDirOpt, calendar_folder, err, fail

app = typer.Typer()
prefect_app = typer.Typer(
    help="Prefect operations: apply the shipped Automations (deploy/automations.yaml).", no_args_is_help=True
)
app.add_typer(prefect_app, name="prefect")


@prefect_app.command("apply")
def apply(
    ops_block: Annotated[
        str, typer.Option("--ops-block", help="the notification block of the ops channel: block-type-slug/block-name")
    ],
    coordinator_block: Annotated[
        Optional[list[str]],
        typer.Option(
            "--coordinator-block",
            help="PROGRAMME=block-type-slug/block-name: the notification block a programme's coordinator is reached by"
            " (repeatable; a bare block-type-slug/block-name is for every programme not named)",
        ),
    ] = None,
    calendar_dir: CalendarDirOpt = None,
    file: Annotated[
        Optional[Path], typer.Option("--file", help="the automations file (default: deploy/automations.yaml)")
    ] = None,
) -> None:
    """Create or update, by name, the Automations of deploy/automations.yaml on the Prefect
    server of PREFECT_API_URL (a message given up, two advance runs failing, and per
    programme whose calendar sets overdue_alert its overdue count reaching it): idempotent."""
    from prefect.settings import PREFECT_API_URL

    from flows.automations import AUTOMATIONS, AutomationsInvalid
    from flows.automations import apply as apply_automations
    from yearwheel.runtime import load_programmes

    if not PREFECT_API_URL.value():
        raise fail("PREFECT_API_URL is not set: Automations live on a Prefect server; set it to the server's API")
    blocks: dict[str, str] = {}
    for ref in coordinator_block or ():
        programme, sep, block = ref.rpartition("=")
        if "/" not in block or (sep and not programme):
            raise fail(
                f"--coordinator-block {ref!r}: expected PROGRAMME=block-type-slug/block-name or block-type-slug/block-name"
            )
        blocks[programme or "*"] = block
    programmes, broken = load_programmes(calendar_folder(calendar_dir))
    for path, exc in broken.items():
        err(f"warning: {path}: not read ({exc}); its overdue alert, if any, is not applied")
    alerting = [p.id for p in programmes if p.spec.overdue_alert is not None]
    unknown = sorted(set(blocks) - {"*"} - {p.id for p in programmes})
    if unknown:
        raise fail(f"--coordinator-block names no programme of the calendars: {', '.join(unknown)}")
    try:
        done = apply_automations(ops_block, file or AUTOMATIONS, alerting=alerting, coordinator_blocks=blocks)
    except AutomationsInvalid as exc:
        raise fail(str(exc)) from None
    for name, what, why in done:
        print(f"{what:9}  {name}" + (f"  ({why})" if why else ""))
