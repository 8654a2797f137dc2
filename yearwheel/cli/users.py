"""``yearwheel users``: the console's accounts — add, disable, reset a password, list, and
per-user API tokens for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional

import typer

from ._common import fail, settings

app = typer.Typer()
users_app = typer.Typer(help="Console accounts: add, disable, reset-password, list, token, revoke-token.", no_args_is_help=True)
app.add_typer(users_app, name="users")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input (for scripts) instead of asking")
]


@contextmanager
def database() -> Iterator[Any]:
    from yearwheel.runtime import SchemaNotReady, open_database

    try:
        engine, sessions = open_database(settings().database_url)
    except SchemaNotReady as exc:
        raise fail(str(exc)) from None
    try:
        yield sessions
    finally:
        engine.dispose()


def password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def now():
    from models.timeline import now as clock

    return clock()


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="the sign-in name (lowercase letters, digits, . _ -)")],
    role: Annotated[str, typer.Option("--role", help="coordinator (acts), viewer (reads) or admin (manages users)")],
    name: Annotated[
        Optional[str], typer.Option("--name", help="the name shown in the audit trail, e.g. 张三（质量发展处）")
    ] = None,
    programme: Annotated[
        Optional[list[str]], typer.Option("--programme", help="a programme this user works on (repeat; '*' for all)")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a console user."""
    from yearwheel.accounts import AccountError, add_user

    secret = password(password_stdin)
    with database() as sessions:
        try:
            u = add_user(sessions, username, role=role, password=secret, display_name=name, programmes=programme, now=now())
        except AccountError as exc:
            raise fail(str(exc)) from None
    print(f"added {u.username} ({u.role}; programmes: {', '.join(u.programmes)})")


@users_app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="the user")],
    enable: Annotated[bool, typer.Option("--enable", help="enable the user again")] = False,
) -> None:
    """Disable a user: their sessions and tokens stop working at once (or --enable)."""
    from yearwheel.accounts import AccountError, set_disabled

    with database() as sessions:
        try:
            set_disabled(sessions, username, not enable)
        except AccountError as exc:
            raise fail(str(exc)) from None
    print(f"{username} {'enabled' if enable else 'disabled'}")


@users_app.command("reset-password")
def reset(username: Annotated[str, typer.Argument(help="the user")], password_stdin: PasswordStdin = False) -> None:
    """Set a new password (and unlock the account); the user's sessions end."""
    from yearwheel.accounts import AccountError, reset_password

    secret = password(password_stdin)
    with database() as sessions:
        try:
            reset_password(sessions, username, secret)
        except AccountError as exc:
            raise fail(str(exc)) from None
    print(f"password of {username} reset")


@users_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Every user, their role and programmes."""
    from yearwheel.accounts import list_users

    with database() as sessions:
        users = list_users(sessions)
    if as_json:
        print(json.dumps(users, ensure_ascii=False, indent=2))
        return
    for u in users:
        state = " (disabled)" if u["disabled"] else f" (locked until {u['locked_until']})" if u["locked_until"] else ""
        print(f"{u['username']}\t{u['role']}\t{u['name']}\t{','.join(u['programmes'])}{state}")


@users_app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="the user the token acts as")],
    name: Annotated[str, typer.Option("--name", help="what the token is for")] = "script",
) -> None:
    """A new API token for scripts (Authorization: Bearer …); printed once, stored hashed."""
    from yearwheel.accounts import AccountError, new_token

    with database() as sessions:
        try:
            token_id, value = new_token(sessions, username, name, now=now())
        except AccountError as exc:
            raise fail(str(exc)) from None
    print(value)
    print(
        f"token {token_id} for {username}: shown only now; revoke it with `yearwheel users revoke-token {token_id}`",
        file=sys.stderr,
    )


@users_app.command("revoke-token")
def revoke(token_id: Annotated[int, typer.Argument(help="the token's number (shown when it was made)")]) -> None:
    """Revoke an API token."""
    from yearwheel.accounts import AccountError, revoke_token

    with database() as sessions:
        try:
            revoke_token(sessions, token_id, now=now())
        except AccountError as exc:
            raise fail(str(exc)) from None
    print(f"token {token_id} revoked")
