"""``yearwheel prefect apply``: the Prefect Automations shipped with Yearwheel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import fail

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
    file: Annotated[
        Optional[Path], typer.Option("--file", help="the automations file (default: deploy/automations.yaml)")
    ] = None,
) -> None:
    """Create or update, by name, the Automations of deploy/automations.yaml on the Prefect
    server of PREFECT_API_URL (a message given up, two advance runs failing): idempotent."""
    from prefect.settings import PREFECT_API_URL

    from flows.automations import AUTOMATIONS, AutomationsInvalid
    from flows.automations import apply as apply_automations

    if not PREFECT_API_URL.value():
        raise fail("PREFECT_API_URL is not set: Automations live on a Prefect server; set it to the server's API")
    try:
        done = apply_automations(ops_block, file or AUTOMATIONS)
    except AutomationsInvalid as exc:
        raise fail(str(exc)) from None
    for name, what in done:
        print(f"{what:9}  {name}")
