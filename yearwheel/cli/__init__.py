"""The ``yearwheel`` command line — lazy: a command imports only what it uses.

``main`` reads the command's name from the arguments and imports just its module (as
pip does with its ``commands_dict``): ``yearwheel --help`` prints from the table below
without importing typer, the database layer or Prefect, and ``yearwheel plan`` never
imports SQLAlchemy. ``build_app()`` assembles every command into one typer app (the
tests drive that one).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

HELP = (
    "Yearwheel: annual programme calendars compiled into dated milestones, a ledger of tasks, "
    "reminders that chase them, and roll-ups."
)

# command (or group) → (module, one-line summary). tests/test_cli.py checks this table
# against the commands the modules register, so the two cannot drift apart.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("yearwheel.cli.calendars", "Check calendars; print PATH:LINE:COLUMN: message for each problem (exit 1 if any)."),
    "plan": ("yearwheel.cli.calendars", "The year's milestones with nominal and effective due dates, assignees and reminders."),
    "ics": ("yearwheel.cli.calendars", "An iCalendar (RFC 5545) file: one event per milestone due, alarms at the reminders."),
    "schema": ("yearwheel.cli.calendars", "Write the JSON schemas of the calendar formats into <calendar dir>/schema/."),
    "deployments": (
        "yearwheel.cli.calendars",
        "Write prefect.yaml: deploy/prefect-base.yaml and one advance-<programme> deployment per calendar.",
    ),
    "db": ("yearwheel.cli.ledger", "The ledger database: apply migrations (YEARWHEEL_DATABASE_URL; default ./yearwheel.db)."),
    "advance": (
        "yearwheel.cli.ledger",
        "Reconcile the ledger as of --at: open, mark overdue, queue and send reminders, roll up.",
    ),
    "status": ("yearwheel.cli.ledger", "Every task of a programme year: its state, due date, submission and reminders sent."),
    "rollup": ("yearwheel.cli.ledger", "On-time rates per milestone and participant, counts from the forms, target progress."),
    "report": ("yearwheel.cli.ledger", "The year report: one self-contained HTML page, in Chinese."),
    "submit": (
        "yearwheel.cli.actions",
        "Validate a filled form and record it: the task closes (on time or late), an acknowledgement goes out.",
    ),
    "accept": (
        "yearwheel.cli.actions",
        "Accept the latest submitted version: the bureau can no longer replace it (unless it is returned).",
    ),
    "return": (
        "yearwheel.cli.actions",
        "Return a submission for revision: the task reopens (history kept) and the bureau is told why.",
    ),
    "extend": ("yearwheel.cli.actions", "Grant one participant an extension; reminders follow the new date."),
    "exempt": ("yearwheel.cli.actions", "Exempt one participant from a task; it is no longer reminded or counted."),
    "outbox": ("yearwheel.cli.ledger", "Messages in the outbox, newest first: what was sent, what waits, what failed and why."),
    "simulate": (
        "yearwheel.cli.simulate",
        "The main job: a whole programme year on a simulated clock, ending with its status matrix and rollup.",
    ),
    "forms": ("yearwheel.cli.forms", "Excel templates for bureaus, and reading them back."),
    "experts": ("yearwheel.cli.experts", "Experts for clinic visits: the reproducible public draw."),
    "workdays": (
        "yearwheel.cli.workdays",
        "Working-day years: import the State Council's holiday notice, or draft a provisional year.",
    ),
    "evaluate": (
        "yearwheel.cli.evaluation",
        "The annual evaluation: scores and ranks per cohort, each explained down to the ledger rows (.docx/.xlsx/.html).",
    ),
    "rate": (
        "yearwheel.cli.evaluation",
        "Record a coordinator's 0–100 rating of a participant for a year, with a comment (the latest counts).",
    ),
    "bulletin": (
        "yearwheel.cli.evaluation",
        "The monthly bulletin (月度通报): due, on time, late, missing by unit; units late months running (.docx/.html).",
    ),
    "users": ("yearwheel.cli.users", "Console accounts: add, disable, reset-password, list, token, revoke-token."),
    "prefect": ("yearwheel.cli.prefect_ops", "Prefect operations: apply the shipped Automations (deploy/automations.yaml)."),
    "intake": ("yearwheel.cli.intake", "The web intake behind signed links ($YEARWHEEL_LINK_SECRET, $YEARWHEEL_INTAKE_URL)."),
}
MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_app(modules: tuple[str, ...] = MODULES) -> Any:
    """One typer app with the commands of ``modules`` (default: all of them)."""
    import typer

    from ._common import quiet_logging

    app = typer.Typer(name="yearwheel", help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    app.callback()(quiet_logging)
    for name in modules:
        part = importlib.import_module(name).app
        app.registered_commands += part.registered_commands
        app.registered_groups += part.registered_groups
    return app


def help_text() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["Usage: yearwheel COMMAND [ARGS]...", "", HELP, "", "Commands:"]
    lines += [f"  {name.ljust(width)}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run 'yearwheel COMMAND --help' for a command's options. Documentation: README.md."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """The console script. A failure the commands foresee ends with its message and exit
    code; an unforeseen one (a bug) is one line naming a file with the details — never a
    traceback in the user's terminal."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(help_text())
        raise SystemExit(0 if args else 2)
    entry = COMMANDS.get(args[0])
    if entry is None:
        import difflib

        near = difflib.get_close_matches(args[0], COMMANDS, n=3)
        print(
            f"error: no command {args[0]!r}"
            + (f"; did you mean {', '.join(near)}?" if near else "")
            + " — run 'yearwheel --help'",
            file=sys.stderr,
        )
        raise SystemExit(2)
    try:
        build_app((entry[0],))(args, prog_name="yearwheel")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 — the last line of defence
        import tempfile
        import traceback

        from ._common import EXIT_BUG

        fd, path = tempfile.mkstemp(prefix="yearwheel-error-", suffix=".txt")
        with open(fd, "w", encoding="utf-8") as f:
            traceback.print_exc(file=f)
        print(f"internal error: {type(exc).__name__}: {exc} — this is a bug in Yearwheel; details in {path}", file=sys.stderr)
        raise SystemExit(EXIT_BUG) from None
