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
    …/evaluation, …/participant/{id}, …/bulletin/{month}   the evaluation and the bulletin (console_reports)

A server-side session (``yearwheel.accounts``): the cookie holds a random token (HttpOnly,
SameSite=Lax, Secure over HTTPS — directly, through a trusted proxy, or when
$YEARWHEEL_WEB_URL is https), every POST carries the session's CSRF token (the sign-in form
a pre-session one), a POST a browser marks as coming from elsewhere (Sec-Fetch-Site, or
``Origin: null``) is refused, a viewer reads and never acts (403), and every action is
recorded under the signed-in user. Database work runs in the thread pool; every input is
bounded before it is used; an unexpected input gets a Chinese page, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Callable
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from models import states as S
from models import vocabulary as V
from models.timeline import TZ
from models.timeline.workdays import MissingWorkdayData
from models.yearview import LIGHTS, workdays_text
from yearwheel import accounts as A
from yearwheel import board as B
from yearwheel import usecases as R

from .clients import client_address, over_https

log = logging.getLogger("yearwheel.web")

COOKIE = "yw_console"
LOGIN_COOKIE = "yw_login"  # the pre-session token of the sign-in form (double submit)
TaskId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Year = Annotated[int, PathParam(ge=1900, le=9999)]
ACTIONS = {"accept": "审核通过", "return": "退回修改", "extend": "延期", "exempt": "免报"}
STATE_ZH = S.STATES_ZH  # one vocabulary: models.states
OUTBOX_ZH = {
    V.PENDING: "等待发送",
    V.SENDING: "发送中",
    V.SENT: "已发送",
    V.DEAD: "已放弃",
    V.SKIPPED: "未发送（已不适用）",
    V.DIGESTED: "已汇入每日汇总",
}
MAX_FIELD = 2000  # characters of one form input


def mount_console(
    app: FastAPI, rt: R.Runtime, env: Environment, settings: Any, wake: Callable[[], None], *, sessions: Any
) -> None:
    """Add the console's routes to the web service's ``app`` (``settings``: its WebSettings)."""

    def now() -> dt.datetime:
        return settings.clock()

    def secure(request: Request) -> bool:
        return over_https(request) or (settings.web_url or "").startswith("https://")

    def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        response = HTMLResponse(
            env.get_template(name).render(
                lights=LIGHTS,
                states=STATE_ZH,
                outbox_states=OUTBOX_ZH,
                roles=V.ROLES,
                actions=ACTIONS,
                local=lambda t: t.astimezone(TZ),
                workdays_text=workdays_text,
                **ctx,
            ),
            status_code=status,
        )
        # our own forms then post with their real Origin, so a hidden ("null") one is refused
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def refused(status: int, text: str, user: A.Actor | None = None, csrf: str = "") -> HTMLResponse:
        return render("console_message.html.j2", status, user=user, csrf=csrf, message=text)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/console"):
            return refused(404, "没有这个页面（地址中的编号或参数不正确）。")
        return JSONResponse({"error": "invalid request"}, status_code=422)

    @app.exception_handler(DBAPIError)
    async def database_trouble(request: Request, exc: DBAPIError) -> Response:
        log.warning("database trouble on %s: %s", request.url.path, str(getattr(exc, "orig", exc))[:200])
        return refused(503, "系统暂时无法连接数据库（或数据库繁忙），未做任何改动。请稍后重试。")

    def who(request: Request) -> tuple[A.Actor, str] | None:
        return A.session_user(sessions, request.cookies.get(COOKIE), now=now())

    def to_login(request: Request) -> Response:
        target = request.url.path if request.url.path.startswith("/console") else "/console"
        return RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)

    async def posted(request: Request, *names: str) -> dict[str, str] | None:
        """The named inputs of a small urlencoded form (None for anything else)."""
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return None
        try:  # a Chinese character is 9 bytes once urlencoded
            form = await request.form(max_fields=len(names) + 2, max_files=0, max_part_size=MAX_FIELD * 9 + 64)
        except Exception:  # noqa: BLE001 — malformed or oversized: refused by the caller
            return None
        out = {}
        for n in names:
            v = form.get(n)
            out[n] = v[:MAX_FIELD] if isinstance(v, str) else ""
        return out

    def foreign(request: Request) -> bool:
        """A browser says the POST comes from another site, or hides where it comes from."""
        site = request.headers.get("sec-fetch-site", "").lower()
        return site in ("cross-site", "same-site") or request.headers.get("origin", "").strip().lower() == "null"

    async def acting(request: Request, form: dict[str, str] | None) -> tuple[A.Actor, str] | Response:
        """The signed-in user of a POST whose CSRF token matches, or the answer to give."""
        if foreign(request):
            log.warning("console: refused a cross-site POST to %s from %s", request.url.path, client_address(request))
            return refused(403, "请从工作台页面提交。")
        found = await run_in_threadpool(who, request)
        if found is None:
            return to_login(request)
        user, csrf = found
        if form is None or not hmac.compare_digest(form.get("csrf", "").encode(), csrf.encode()):
            log.warning("console: refused a POST to %s without its CSRF token (user %s)", request.url.path, user.username)
            return refused(403, "页面已过期或请求来源不明，请返回刷新后重试。", user, csrf)
        return user, csrf

    # ---------------------------------------------------------------- sign-in

    def login_form(request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
        """The sign-in page with a fresh pre-session token, in a cookie and in the form:
        another site cannot sign a browser into an account of its choosing."""
        token = secrets.token_urlsafe(24)
        ctx.setdefault("next", "/console")
        response = render("console_login.html.j2", status, login_csrf=token, **ctx)
        response.set_cookie(
            LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=secure(request), path="/console"
        )
        return response

    def safe_next(target: str) -> str:
        ok = target.startswith("/console") and "//" not in target and "\\" not in target and "\n" not in target
        return target[:300] if ok else "/console"

    @app.get("/console/login")
    def login_page(request: Request, next: str = "/console") -> Response:
        return login_form(request, next=safe_next(next))

    @app.post("/console/login")
    async def login(request: Request) -> Response:
        form = await posted(request, "username", "password", "next", "login_csrf")
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if (
            form is None
            or foreign(request)
            or not cookie
            or not hmac.compare_digest(form["login_csrf"].encode(), cookie.encode())
        ):
            return login_form(request, 400, problem="登录页面已过期，请重新输入用户名和密码。")
        client = client_address(request)
        done = await run_in_threadpool(A.sign_in, sessions, form["username"], form["password"], client=client, now=now())
        target = safe_next(form["next"])
        if done is None:
            log.warning("console: a failed sign-in from %s", client)
            return login_form(request, 401, problem=A.SIGN_IN_FAILED, next=target, username=form["username"][:64])
        user, token, _ = done
        log.info("console: %s signed in from %s", user.username, client)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(A.SESSION_FOR.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=secure(request),
            path="/console",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/console")
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
        year: Year,
        light: str = "",
        q: str = "",
        group: str = "",
        workstream: str = "",
        page: Annotated[int, Query(ge=1, le=10**6)] = 1,
    ) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        light, q, group, workstream = light[:20], q[:100], group[:80], workstream[:80]
        try:
            b = B.board(rt, user, programme, year, now(), light=light, q=q, group=group, workstream=workstream, page=page)
        except LookupError:
            return refused(404, "没有这个计划年度，或您无权查看。", user, csrf)
        api = rt.settings.prefect_api_url
        return render(
            "console_board.html.j2",
            user=user,
            csrf=csrf,
            b=b,
            prefect_runs=(api.rstrip("/").removesuffix("/api") + "/runs") if api else None,
            filters={"light": light, "q": q, "group": group, "workstream": workstream},
        )

    @app.get("/console/p/{programme}/{year}/m/{milestone}")
    def milestone_view(
        request: Request,
        programme: str,
        year: Year,
        milestone: str,
        days: Annotated[int, Query(ge=0, le=60)] = 0,
        q: Annotated[str, Query(max_length=80)] = "",
    ) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        try:
            m = B.milestone_page(rt, user, programme, year, milestone, now())
        except LookupError:
            return refused(404, "没有这个节点，或您无权查看。", user, csrf)
        if q:  # one participant's items of a fan-out milestone (the board's n/m cell links here)
            m = {**m, "rows": [r for r in m["rows"] if r["participant"] == q]}
        preview, problem = None, ""
        if days:
            try:
                preview = B.extension_date(rt, programme, now(), days)
            except MissingWorkdayData as exc:
                problem = f"无法计算新的截止日期：缺少{exc.year}年的工作日安排（导入国务院通知后再试）。"
        notes = {
            "remind": "已加入发件箱：未报送的单位将收到提醒（同一单位每天至多一次）。",
            "extend": "已延期，各单位将收到截止日期调整通知。",
        }
        note = notes.get(request.query_params.get("done", ""), "")
        return render(
            "console_milestone.html.j2", user=user, csrf=csrf, m=m, days=days, preview=preview, problem=problem, note=note
        )

    @app.post("/console/p/{programme}/{year}/m/{milestone}/{what}")
    async def milestone_action(request: Request, programme: str, year: Year, milestone: str, what: str) -> Response:
        form = await posted(request, "csrf", "days", "reason", "confirm")
        found = await acting(request, form)
        if isinstance(found, Response):
            return found
        user, csrf = found
        assert form is not None
        if not user.acts_on(programme):
            return refused(403, "您的账号只能查看，不能办理。", user, csrf)
        base = f"/console/p/{quote(programme)}/{year}/m/{quote(milestone)}"
        if what == "remind":
            try:
                n = await run_in_threadpool(B.remind_now, rt, user, programme, year, milestone, now())
            except LookupError:
                return refused(404, "没有这个节点，或您无权查看。", user, csrf)
            wake()
            log.info("console: %s asked %d reminder(s) for %s %s %s", user.username, n, programme, year, milestone)
            return RedirectResponse(f"{base}?done=remind", status_code=303)
        if what != "extend":
            return refused(404, "没有这个操作。", user, csrf)
        days = int(form["days"]) if re.fullmatch(r"[0-9]{1,2}", form["days"]) else 0
        reason = form["reason"].strip()
        if not 0 < days <= 60 or not reason:
            return refused(422, "请填写延期的工作日数（1–60）和延期原因。", user, csrf)
        try:
            new_due = B.extension_date(rt, programme, now(), days)
        except MissingWorkdayData as exc:
            return refused(409, f"无法计算新的截止日期：缺少{exc.year}年的工作日安排。", user, csrf)
        except LookupError:
            return refused(404, "没有这个计划。", user, csrf)
        if form["confirm"] != new_due.isoformat():  # the date shown before confirming is the one applied
            return RedirectResponse(f"{base}?days={days}", status_code=303)

        def extend_all() -> tuple[int, list[str]]:
            from models import submissions as U
            from models.states import TransitionRefused

            page = B.milestone_page(rt, user, programme, year, milestone, now())
            n, missed = 0, []
            for r in page["overdue"]:
                try:
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
                        item=r["item_key"],
                    )
                    n += 1
                except (U.NotAllowed, U.NotFound, TransitionRefused) as exc:  # e.g. submitted meanwhile
                    missed.append(f"{r['name']}：{exc}")
            return n, missed

        try:
            n, missed = await run_in_threadpool(extend_all)
        except LookupError:
            return refused(404, "没有这个节点，或您无权查看。", user, csrf)
        wake()
        log.info("console: %s extended %d task(s) of %s %s %s to %s", user.username, n, programme, year, milestone, new_due)
        if missed:
            return refused(409, f"已延期 {n} 个单位；以下单位未延期：" + "；".join(missed[:20]), user, csrf)
        return RedirectResponse(f"{base}?done=extend", status_code=303)

    @app.get("/console/task/{task_id}")
    def task_view(request: Request, task_id: TaskId) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        try:
            t = B.task_page(rt, user, task_id, now())
        except LookupError:
            return refused(404, "没有这项任务，或您无权查看。", user, csrf)
        done = ACTIONS.get(request.query_params.get("done", ""), "")
        return render("console_task.html.j2", user=user, csrf=csrf, t=t, note=f"已办理：{done}。" if done else "")

    def task_problem(user: A.Actor, csrf: str, task_id: int, text: str, status: int = 409) -> Response:
        """The task page again, saying what was not done (nothing is passed through the URL)."""
        return render("console_task.html.j2", status, user=user, csrf=csrf, t=B.task_page(rt, user, task_id, now()), problem=text)

    @app.post("/console/task/{task_id}/{action}")
    async def task_action(request: Request, task_id: TaskId, action: str) -> Response:
        form = await posted(request, "csrf", "reason", "to")
        found = await acting(request, form)
        if isinstance(found, Response):
            return found
        user, csrf = found
        assert form is not None
        if action not in ACTIONS:
            return refused(404, "没有这个操作。", user, csrf)
        try:
            t = await run_in_threadpool(B.task_page, rt, user, task_id, now())
        except LookupError:
            return refused(404, "没有这项任务，或您无权查看。", user, csrf)
        if not user.acts_on(t["programme"]):
            return refused(403, "您的账号只能查看，不能办理。", user, csrf)
        reason = form["reason"].strip() or ("审核通过" if action == "accept" else "")
        try:
            new_due = dt.date.fromisoformat(form["to"][:10]) if action == "extend" else None
        except ValueError:
            return await run_in_threadpool(task_problem, user, csrf, task_id, "请选择新的截止日期。", 422)
        if not reason:
            return await run_in_threadpool(task_problem, user, csrf, task_id, "请填写原因。", 422)
        from models import submissions as U
        from models.states import TransitionRefused

        def act() -> None:
            R.coordinator_action(
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
                item=t["item_key"],
            )

        try:
            await run_in_threadpool(act)
        except (U.NotAllowed, TransitionRefused) as exc:
            return await run_in_threadpool(task_problem, user, csrf, task_id, f"未办理：{exc}")
        except MissingWorkdayData as exc:
            text = f"未办理：缺少{exc.year}年的工作日安排，无法核对该日期。"
            return await run_in_threadpool(task_problem, user, csrf, task_id, text)
        log.info("console: %s did %s on task %s", user.username, action, task_id)
        wake()
        return RedirectResponse(f"/console/task/{task_id}?done={action}", status_code=303)

    @app.get("/console/task/{task_id}/file/{sha256}")
    def evidence(request: Request, task_id: TaskId, sha256: str) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        try:
            f = B.attachment(rt, user, task_id, sha256[:64])
        except LookupError:
            return refused(404, "没有这个附件，或您无权查看。", user, csrf)
        path = Path(f["path"])
        root = Path(settings.attachment_dir).resolve()
        if not path.resolve().is_relative_to(root) or not path.is_file():  # only what the intake stored
            return refused(404, "附件文件不在存储目录中，请联系运维。", user, csrf)
        return FileResponse(
            path, media_type=f.get("content_type") or "application/octet-stream", filename=f.get("name") or path.name
        )

    from .console_reports import Pages, mount_reports

    mount_reports(app, rt, Pages(who, to_login, render, refused, posted, acting, now))

    @app.get("/console/outbox")
    def outbox(request: Request) -> Response:
        found = who(request)
        if found is None:
            return to_login(request)
        user, csrf = found
        return render("console_outbox.html.j2", user=user, csrf=csrf, rows=B.outbox_page(rt, user))
