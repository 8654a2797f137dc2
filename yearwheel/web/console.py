"""The coordinator's console (工作台), in the web service the intake runs in.

    GET  /console/login, POST /console/login, POST /console/logout
    GET  /console                                  the programme years the user may see
    GET  /console/p/{programme}/{year}             the board (colours, filters, search, pages)
    GET  /console/p/{programme}/{year}/m/{id}      a milestone: progress, who is missing
    POST /console/p/{programme}/{year}/m/{id}/extend   every overdue task by N working days
    POST /console/p/{programme}/{year}/m/{id}/remind   remind the missing now (through the outbox)
    GET  /console/task/{id}                        the audit trail, versions, messages, actions
    POST /console/task/{id}/{accept|return|extend|exempt}
    GET  /console/task/{id}/file/{sha256}          an evidence file (signed-in users with access)
    GET  /console/outbox                           what failed and why

A server-side session (``yearwheel.accounts``): the cookie holds a random token (HttpOnly,
SameSite=Lax, Secure over HTTPS), every POST carries the session's CSRF token, a viewer
reads and never acts (403), and every action is recorded under the signed-in user.
Database work runs in the thread pool; every input is bounded before it is used.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from models import vocabulary as V
from models.timeline import TZ
from models.yearview import LIGHTS
from yearwheel import accounts as A
from yearwheel import board as B
from yearwheel import usecases as R

log = logging.getLogger("yearwheel.web")

COOKIE = "yw_console"
ACTIONS = {"accept": "审核通过", "return": "退回修改", "extend": "延期", "exempt": "免报"}
STATE_ZH = {
    "waiting": "未开始",
    "open": "进行中",
    "overdue": "逾期",
    "submitted": "已报送",
    "returned": "退回修改",
    "exempted": "免报",
}
OUTBOX_ZH = {V.PENDING: "等待发送", V.SENDING: "发送中", V.SENT: "已发送", V.DEAD: "已放弃", V.SKIPPED: "未发送（已不适用）"}
MAX_FIELD = 2000  # characters of one form input


def mount_console(
    app: FastAPI, rt: R.Runtime, env: Environment, clock: Callable[[], dt.datetime], wake: Callable[[], None], *, sessions: Any
) -> None:
    def now() -> dt.datetime:
        return clock()

    def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(
            env.get_template(name).render(
                lights=LIGHTS,
                states=STATE_ZH,
                outbox_states=OUTBOX_ZH,
                roles=V.ROLES,
                actions=ACTIONS,
                local=lambda t: t.astimezone(TZ),
                **ctx,
            ),
            status_code=status,
        )

    def who(request: Request) -> tuple[A.Actor, str] | None:
        return A.session_user(sessions, request.cookies.get(COOKIE), now=now())

    def to_login(request: Request) -> Response:
        target = request.url.path if request.url.path.startswith("/console") else "/console"
        return RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)

    def refused(status: int, text: str, user: A.Actor | None = None) -> HTMLResponse:
        return render("console_message.html.j2", status, user=user, message=text)

    async def posted(request: Request, *names: str) -> dict[str, str] | None:
        """The named inputs of a small urlencoded form (None for anything else)."""
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return None
        try:
            form = await request.form(max_fields=len(names) + 2, max_files=0, max_part_size=MAX_FIELD * 4)
        except Exception:  # noqa: BLE001 — malformed or oversized: refused below
            return None
        out = {}
        for n in names:
            v = form.get(n)
            out[n] = v[:MAX_FIELD] if isinstance(v, str) else ""
        return out

    async def acting(request: Request, form: dict[str, str] | None) -> tuple[A.Actor, str] | Response:
        """The signed-in user of a POST whose CSRF token matches, or the answer to give."""
        found = await run_in_threadpool(who, request)
        if found is None:
            return to_login(request)
        user, csrf = found
        if form is None or not hmac.compare_digest(form.get("csrf", "").encode(), csrf.encode()):
            log.warning("console: refused a POST to %s without its CSRF token (user %s)", request.url.path, user.username)
            return refused(403, "页面已过期或请求来源不明，请返回刷新后重试。", user)
        return user, csrf

    # ---------------------------------------------------------------- sign-in

    @app.get("/console/login")
    def login_page(request: Request, next: str = "/console") -> Response:
        return render("console_login.html.j2", next=next if next.startswith("/console") else "/console")

    @app.post("/console/login")
    async def login(request: Request) -> Response:
        form = await posted(request, "username", "password", "next")
        if form is None:
            return render("console_login.html.j2", 400, problem=A.SIGN_IN_FAILED, next="/console")
        client = request.client.host if request.client else "?"
        try:
            done = await run_in_threadpool(A.sign_in, sessions, form["username"], form["password"], client=client, now=now())
        except DBAPIError:
            return render("console_login.html.j2", 503, problem="系统暂时无法连接数据库，请稍后重试。", next="/console")
        target = form["next"] if form["next"].startswith("/console") and "//" not in form["next"] else "/console"
        if done is None:
            log.warning("console: a failed sign-in from %s", client)
            return render("console_login.html.j2", 401, problem=A.SIGN_IN_FAILED, next=target, username=form["username"][:64])
        user, token, _ = done
        log.info("console: %s signed in from %s", user.username, client)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(A.SESSION_FOR.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/console",
        )
        return response

    @app.post("/console/logout")
    async def logout(request: Request) -> Response:
        found = await acting(request, await posted(request, "csrf"))
        if isinstance(found, Response):
            return found
        await run_in_threadpool(A.sign_out, sessions, request.cookies.get(COOKIE))
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/console")
        return response

    # ---------------------------------------------------------------- pages

    @app.get("/console")
    def home(request: Request) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        return render("console_home.html.j2", user=user, csrf=csrf, years=B.programme_years(rt, user))

    @app.get("/console/p/{programme}/{year}")
    def board_page(
        request: Request,
        programme: str,
        year: int,
        light: str = "",
        q: str = "",
        group: str = "",
        workstream: str = "",
        page: int = 1,
    ) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        try:
            b = B.board(
                rt,
                user,
                programme,
                year,
                now(),
                light=light[:20],
                q=q[:100],
                group=group[:80],
                workstream=workstream[:80],
                page=page,
            )
        except (B.NotVisible, LookupError):
            return refused(404, "没有这个计划年度，或您无权查看。", user)
        api = rt.settings.prefect_api_url
        prefect_runs = (api.rstrip("/").removesuffix("/api") + "/runs") if api else None
        return render(
            "console_board.html.j2",
            user=user,
            csrf=csrf,
            b=b,
            prefect_runs=prefect_runs,
            filters={"light": light, "q": q[:100], "group": group, "workstream": workstream},
        )

    @app.get("/console/p/{programme}/{year}/m/{milestone}")
    def milestone_view(request: Request, programme: str, year: int, milestone: str, days: int = 0) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        try:
            m = B.milestone_page(rt, user, programme, year, milestone, now())
        except (B.NotVisible, LookupError):
            return refused(404, "没有这个节点，或您无权查看。", user)
        preview = B.extension_date(rt, programme, now(), days) if 0 < days <= 60 else None
        return render("console_milestone.html.j2", user=user, csrf=csrf, m=m, days=days, preview=preview)

    @app.post("/console/p/{programme}/{year}/m/{milestone}/{what}")
    async def milestone_action(request: Request, programme: str, year: int, milestone: str, what: str) -> Response:
        found = await acting(request, form := await posted(request, "csrf", "days", "reason", "confirm"))
        if isinstance(found, Response):
            return found
        user, _ = found
        assert form is not None
        if not user.acts_on(programme):
            return refused(403, "您的账号只能查看，不能办理。", user)
        base = f"/console/p/{quote(programme)}/{year}/m/{quote(milestone)}"
        if what == "remind":
            try:
                n = await run_in_threadpool(B.remind_now, rt, user, programme, year, milestone, now())
            except (B.NotVisible, LookupError):
                return refused(404, "没有这个节点，或您无权查看。", user)
            wake()
            return RedirectResponse(f"{base}?done=remind&n={n}", status_code=303)
        if what != "extend":
            return refused(404, "没有这个操作。", user)
        days = int(form["days"]) if form["days"].isdigit() and 0 < int(form["days"]) <= 60 else 0
        reason = form["reason"].strip()
        if not days or not reason:
            return refused(422, "请填写延期的工作日数（1–60）和延期原因。", user)
        new_due = B.extension_date(rt, programme, now(), days)
        if form["confirm"] != new_due.isoformat():  # the date shown before confirming is the one applied
            return RedirectResponse(f"{base}?days={days}", status_code=303)

        def extend_all() -> int:
            page = B.milestone_page(rt, user, programme, year, milestone, now())
            n = 0
            for r in page["overdue"]:
                R.coordinator_action(
                    rt,
                    "extend",
                    programme,
                    year,
                    milestone,
                    r["participant"],
                    actor=user.username,
                    reason=reason,
                    at=now(),
                    new_due=new_due,
                    send=False,
                )
                n += 1
            return n

        n = await run_in_threadpool(extend_all)
        wake()
        return RedirectResponse(f"{base}?done=extend&n={n}", status_code=303)

    @app.get("/console/task/{task_id}")
    def task_view(request: Request, task_id: int) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        try:
            t = B.task_page(rt, user, task_id, now())
        except (B.NotVisible, LookupError):
            return refused(404, "没有这项任务，或您无权查看。", user)
        return render("console_task.html.j2", user=user, csrf=csrf, t=t, problem=request.query_params.get("problem", "")[:300])

    @app.post("/console/task/{task_id}/{action}")
    async def task_action(request: Request, task_id: int, action: str) -> Response:
        found = await acting(request, form := await posted(request, "csrf", "reason", "to"))
        if isinstance(found, Response):
            return found
        user, _ = found
        assert form is not None
        if action not in ACTIONS:
            return refused(404, "没有这个操作。", user)
        try:
            t = await run_in_threadpool(B.task_page, rt, user, task_id, now())
        except (B.NotVisible, LookupError):
            return refused(404, "没有这项任务，或您无权查看。", user)
        if not user.acts_on(t["programme"]):
            return refused(403, "您的账号只能查看，不能办理。", user)
        reason = form["reason"].strip() or ("审核通过" if action == "accept" else "")
        try:
            new_due = dt.date.fromisoformat(form["to"]) if action == "extend" else None
        except ValueError:
            return RedirectResponse(f"/console/task/{task_id}?problem={quote('请选择新的截止日期')}", status_code=303)
        if not reason:
            return RedirectResponse(f"/console/task/{task_id}?problem={quote('请填写原因')}", status_code=303)
        from models import submissions as U
        from models.states import TransitionRefused

        try:
            await run_in_threadpool(
                lambda: R.coordinator_action(
                    rt,
                    action,
                    t["programme"],
                    t["year"],
                    t["milestone"],
                    t["participant"],
                    actor=user.username,
                    reason=reason,
                    at=now(),
                    new_due=new_due,
                    send=False,
                )
            )
        except (U.NotAllowed, TransitionRefused) as exc:
            return RedirectResponse(f"/console/task/{task_id}?problem={quote(str(exc)[:300])}", status_code=303)
        except DBAPIError:
            return RedirectResponse(f"/console/task/{task_id}?problem={quote('数据库繁忙，未办理，请重试')}", status_code=303)
        log.info("console: %s did %s on task %s", user.username, action, task_id)
        wake()
        return RedirectResponse(f"/console/task/{task_id}?done={action}", status_code=303)

    @app.get("/console/task/{task_id}/file/{sha256}")
    def evidence(request: Request, task_id: int, sha256: str) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, _ = found
        try:
            f = B.attachment(rt, user, task_id, sha256[:64])
        except (B.NotVisible, LookupError):
            return refused(404, "没有这个附件，或您无权查看。", user)
        path = Path(f["path"])
        if not path.is_file():
            return refused(404, "附件文件不在存储目录中，请联系运维。", user)
        return FileResponse(
            path, media_type=f.get("content_type") or "application/octet-stream", filename=f.get("name") or path.name
        )

    @app.get("/console/outbox")
    def outbox(request: Request) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        return render("console_outbox.html.j2", user=user, csrf=csrf, rows=B.outbox_page(rt, user))
