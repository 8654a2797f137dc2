"""The coordinators' API: ``POST /api/coordinator/{accept|return|extend|exempt}`` with a
user's own token (``Authorization: Bearer yw_…``, from ``yearwheel users token``); every
action recorded under that user, whatever the body says; throttled per client."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from models import submissions as U
from yearwheel import usecases as R
from yearwheel.accounts import token_user

from .clients import client_address

log = logging.getLogger("yearwheel.intake")


def mount_api(
    app: FastAPI,
    rt: R.Runtime,
    settings: Any,
    wake: Callable[[], None],
    *,
    sessions: Any,
    allowed: Callable[[str, int, dt.timedelta], bool],
) -> None:
    """Add the coordinators' API to ``app`` (``settings``: the service's WebSettings;
    ``allowed``: its rate limiter)."""
    web = sessions

    @app.post("/api/coordinator/{action}")
    async def coordinator(action: str, request: Request) -> Response:
        client = client_address(request)
        given = request.headers.get("authorization", "")
        try:
            if not await run_in_threadpool(allowed, f"api:{client}", settings.api_rate, dt.timedelta(minutes=1)):
                return JSONResponse({"error": "too many requests; try again in a minute"}, status_code=429)
            user = await run_in_threadpool(token_user, web, given[7:].strip()) if given.startswith("Bearer ") else None
            if user is None:
                ok = await run_in_threadpool(allowed, f"api-denied:{client}", settings.api_failures, dt.timedelta(minutes=10))
                log.warning("refused a coordinator call from %s", client)
                return JSONResponse({"error": "forbidden"}, status_code=403 if ok else 429)
        except DBAPIError:
            return JSONResponse({"error": "the ledger database is busy or unreachable; try again"}, status_code=503)
        if action not in ("accept", "return", "extend", "exempt"):
            return JSONResponse({"error": f"unknown action {action[:40]!r}: accept, return, extend or exempt"}, status_code=404)
        try:
            body = await request.json()
            args = {k: body[k] for k in ("programme", "year", "milestone", "participant", "reason")}
            if not all(
                isinstance(args[k], str) and 0 < len(args[k].strip()) <= 2000
                for k in ("programme", "milestone", "participant", "reason")
            ):
                raise ValueError
            if not isinstance(args["year"], int) or isinstance(args["year"], bool):
                raise ValueError
            year = args.pop("year")
            item = body.get("item")  # the item's key, for a fan-out milestone
            if item is not None and (not isinstance(item, str) or len(item) > 200):
                raise ValueError
            new_due = dt.date.fromisoformat(body["to"]) if action == "extend" else None
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {
                    "error": "expected JSON {programme, year (a number), milestone, participant, reason, [item]"
                    + (", to (YYYY-MM-DD)" if action == "extend" else "")
                    + "}"
                },
                status_code=422,
            )
        from models.states import TransitionRefused

        if not user.acts_on(args["programme"]):
            return JSONResponse({"error": f"{user.username} may not act on {args['programme'][:80]}"}, status_code=403)

        def act() -> dict:
            return R.coordinator_action(
                rt,
                action,
                args["programme"],
                year,
                args["milestone"],
                args["participant"],
                item=item,
                actor=user.username,  # the token's user, never what the body says
                reason=args["reason"],
                at=settings.clock(),
                new_due=new_due,
                send=False,
            )

        try:
            done = await run_in_threadpool(act)
        except U.NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except (U.NotAllowed, TransitionRefused, LookupError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except DBAPIError:
            return JSONResponse(
                {"error": "the ledger database is busy or unreachable; nothing was changed, try again"}, status_code=503
            )
        wake()  # the bureau's message (returned, due changed) goes out from the sender thread
        return JSONResponse(done)
