"""``yearwheel intake serve``: the bureau web intake (signed links) and coordinator API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import CalendarDirOpt, ContactsOpt, fail, runtime, settings

app = typer.Typer()
intake_app = typer.Typer(
    help="The web intake behind signed links ($YEARWHEEL_LINK_SECRET, $YEARWHEEL_INTAKE_URL).", no_args_is_help=True
)
app.add_typer(intake_app, name="intake")


@intake_app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8350,
    attachments: Annotated[
        Optional[Path],
        typer.Option("--attachments", help="folder for evidence files (default: $YEARWHEEL_ATTACHMENT_DIR or ./attachments)"),
    ] = None,
    contacts: ContactsOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Serve the form behind each reminder's signed link, the coordinators' console
    (/console) and their API (per-user tokens: `yearwheel users token`)."""
    from yearwheel.web.app import WebSettings, create_app
    from yearwheel.web.server import serve as serve_http

    try:
        web = WebSettings.from_settings(settings())
    except ValueError as exc:
        raise fail(str(exc)) from None
    if attachments:
        web.attachment_dir = attachments
    with runtime(calendar_dir, contacts) as rt:
        print(
            f"intake on http://{host}:{port}/ — {len(rt.programmes)} programme(s); "
            f"console on http://{host}:{port}/console (accounts: `yearwheel users add`)",
            flush=True,
        )
        serve_http(create_app(rt, web), host=host, port=port)
