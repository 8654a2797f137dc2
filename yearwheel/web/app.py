"""The bureau intake service (FastAPI): a form behind each signed link, and the
coordinator's actions behind a separate token.

    GET  /t/{token}            the task, its due date and the form (Chinese), its draft restored
    POST /t/{token}            the form's buttons (``intake_pages``): 提交 (multipart: fields +
                               evidence files; a new version each time until the coordinator
                               accepts), 暂存 (a draft), 增加一行 / 删除此行 (re-rendered, nothing stored)
    GET  /t/{token}/receipt    the receipt of a version (?v=N, else the latest), for printing
    POST /api/coordinator/{accept|return|extend|exempt}
                               JSON {programme, year, milestone, participant, reason, to?},
                               header "Authorization: Bearer <a user's token>" (`yearwheel users
                               token`); recorded under that user
    /console/…                 the coordinators' console (``yearwheel.web.console``)
    GET  /healthz              200 when the ledger answers, 503 when it does not

Every request is treated as hostile until shown otherwise:

* a wrong, tampered, re-spelled or expired link gets the same 403 page (the reason goes
  to the log); the task comes from the verified claims only;
* every input is bounded by the form's own limits before any work (fields, rows,
  name length, sizes: ``models.formtext.bounded_flat``), the body by a byte limit (413);
* requests are counted per verified link and per client in the ledger database (429),
  so a restart or a second process does not reset them;
* no blocking work runs on the event loop: database calls, rendering and file writes run
  in the thread pool, and messages are only queued — a background sender delivers them;
* lock waits are time-boxed (``WebSettings.lock_timeout``): a busy ledger gets a "busy, try
  again" page that keeps what was typed; an unreachable one a Chinese page likewise;
* evidence files are checked by their structure (``yearwheel.web.uploads``), written to a
  staging name and moved into place only after the submission is committed;
* a cross-site POST (an Origin or Referer that is not this service) is refused;
* every response carries the security headers (no framing, no referrer, no sniffing,
  a CSP with no external source), 404s and the API included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool

from yearwheel import usecases as R
from yearwheel.settings import Settings as AppSettings
from models import drafts as D
from models import links
from models import ratelimit
from models import submissions as U
from models.db import make_engine, make_sessionmaker
from models.fanout import titled
from models.fieldtypes import FIELD_TYPES
from models.forms import PayloadInvalid, find_form
from models.formtext import bounded_flat, max_inputs, payload_from_flat
from models.tables import MilestoneInstance, ProgrammeYear, Submission, Task
from models.timeline.zhdate import zh_date, zh_datetime

from . import intake_pages as P
from .outbound import Outbound
from .recording import record_submission
from .clients import client_address, is_lock_wait, origin_of, same_site
from .uploads import TYPE_ZH, check_upload, safe_display_name

log = logging.getLogger("yearwheel.intake")


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
BUSY = "系统繁忙（数据库正忙），本次提交未保存。请稍后点击“提交”重试，已填写的内容保留在下方。"
DOWN = "系统暂时无法连接数据库，本次提交未保存。请稍后重试，已填写的内容保留在下方；如持续出现，请联系省厅牵头处室。"


@dataclass
class WebSettings:
    secret: bytes
    attachment_dir: Path = Path("attachments")
    max_body: int = 12 * 1024 * 1024  # the whole request
    max_file: int = 5 * 1024 * 1024  # one evidence file
    max_files: int = 5
    max_field_bytes: int = 256 * 1024  # one text input
    max_api_body: int = 64 * 1024  # a coordinator API call
    rate: int = 20  # requests per link …
    per_seconds: float = 600.0  # … per this window
    api_rate: int = 60  # coordinator API calls per client per minute
    api_failures: int = 10  # wrong tokens per client per 10 minutes
    lock_timeout: float = 3.0  # seconds a request waits for a database lock before "busy, try again"
    public_url: str | None = None  # the address bureaus use ($YEARWHEEL_INTAKE_URL): its origin may POST
    web_url: str | None = None  # where coordinators reach the console ($YEARWHEEL_WEB_URL): https there → Secure cookies
    trusted_proxies: frozenset[str] = frozenset()  # peers whose X-Forwarded-For / -Proto are believed
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.timezone.utc))

    @classmethod
    def from_settings(cls, settings: AppSettings) -> WebSettings:
        """The web service's settings from the application's (``yearwheel.settings``)."""
        secret = settings.secret_bytes()
        if secret is None:
            raise ValueError("YEARWHEEL_LINK_SECRET is not set: the intake signs and checks links with it")
        proxies = frozenset(p.strip() for p in (settings.trusted_proxies or "").split(",") if p.strip())
        return cls(
            secret, settings.attachment_dir, public_url=settings.intake_url, web_url=settings.web_url, trusted_proxies=proxies
        )


def create_app(rt: R.Runtime, settings: WebSettings, *, send: bool = True) -> FastAPI:
    """The service on ``rt``'s programmes. ``send``: run the background sender."""
    outbound = Outbound(rt, settings.clock) if send else None

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app):
        if outbound:
            outbound.start()
        yield
        if outbound:
            await run_in_threadpool(outbound.stop)

    app = FastAPI(title="Yearwheel intake", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.outbound = outbound
    app.state.trusted_proxies = settings.trusted_proxies
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    engine = make_engine(rt.engine.url.render_as_string(hide_password=False), lock_timeout=settings.lock_timeout)
    web: sessionmaker = make_sessionmaker(engine)
    own_origins = {o for o in (origin_of(settings.public_url),) if o}
    window = dt.timedelta(seconds=settings.per_seconds)

    def wake() -> None:
        if outbound:
            outbound.wake.set()

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(
            env.get_template(name).render(
                zh_date=lambda d: zh_date(d, rt.cal), zh_datetime=lambda t: zh_datetime(t, rt.cal), kinds=FIELD_TYPES, **ctx
            ),
            status_code=status,
        )

    def message(status: int, text_: str) -> HTMLResponse:
        return page("error.html.j2", status, message=text_)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        declared = request.headers.get("content-length")
        api = request.url.path.startswith("/api/")
        limit = settings.max_api_body if api else settings.max_body
        if declared is not None and (not declared.isdigit() or len(declared) > 12 or int(declared) > limit):
            response: Response = message(413, f"提交内容过大（上限 {max(limit // (1024 * 1024), 1)} MB）。")
        elif request.method == "POST" and not api and not same_site(request, own_origins):
            log.warning(
                "refused a cross-site POST to %s from %s (origin %s)",
                request.url.path,
                client_address(request),
                (request.headers.get("origin") or request.headers.get("referer") or "")[:200],
            )
            response = message(403, "请通过填报页面提交。")
        elif request.method == "POST" and declared is None:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    break
            if len(body) > limit:
                response = message(413, f"提交内容过大（上限 {max(limit // (1024 * 1024), 1)} MB）。")
            else:
                request._body = body  # noqa: SLF001 — read once, within the limit
                response = await call_next(request)
        else:
            response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    # ---------------------------------------------------------------- the link and its task

    def allowed(key: str, limit: int, per: dt.timedelta) -> bool:
        with web.begin() as s:
            return ratelimit.hit(s, key, limit=limit, window=per, now=settings.clock())

    def task_for(token: str, client: str) -> tuple[links.Claims, dict] | Response:
        """The verified task of a link (or the page to answer with). Runs in the thread pool."""
        try:
            claims = links.verify(settings.secret, token, now=settings.clock())
        except links.LinkInvalid as exc:
            log.warning("refused link %s from %s: %s", links.token_id(token), client, exc.why)
            if not allowed(f"bad:{client}", settings.rate * 3, window):
                return message(429, "请求过于频繁，请稍后再试。")
            return page("denied.html.j2", 403)
        if not allowed(links.claims_key(claims), settings.rate, window):
            return message(429, "请求过于频繁，请稍后再试。")
        with web() as s:
            row = s.execute(
                select(Task, MilestoneInstance, ProgrammeYear)
                .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
                .join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id)
                .where(Task.id == claims.task_id)
            ).one_or_none()
            if row is None or row[0].participant != claims.participant:
                log.warning("link for task %s of %s: not in the ledger", claims.task_id, claims.participant)
                return page("denied.html.j2", 403)
            task, mi, py = row
            versions = s.scalar(select(func.count()).select_from(Submission).where(Submission.task_id == task.id))
            info = {
                "task_id": task.id,
                "participant": task.participant,
                "state": task.state,
                "due": task.due,
                "original_due": task.original_due,
                "nominal_due": mi.nominal_due if task.due == mi.due else None,
                "accepted": task.accepted_at is not None,
                "versions": versions,
                "programme": py.programme,
                "year": py.year,
                "milestone": mi.milestone,
                "title": titled(mi.title, task),
                "item_key": task.item_key,
                "form": mi.form,
                "programme_title": py.title,
            }
            draft = D.load_draft(s, task.id)
            info["draft"] = D.stored_values(draft) if draft else None
            info["draft_at"] = draft.saved_at if draft else None
            info["returned"] = P.returned_version(s, task.id, task.state, versions or 0)
        try:
            prog = rt.programme(info["programme"])
        except LookupError:
            return page("denied.html.j2", 403)
        info["participant_name"] = prog.names.get(task.participant, task.participant)
        info["form_spec"] = find_form(prog.spec, info["form"]) if info["form"] else None
        info["param"] = prog.spec.parameter_value
        info |= P.task_context(prog.spec, prog.names, info, rt.cal)
        return claims, info

    def can_submit(info: dict) -> str | None:
        if info["state"] == "exempted":
            return "本项任务已豁免，无需填报。"
        if info["state"] == "retired":
            return "本项任务对应的条目已从工作方案中移除，无需填报。"
        if info["accepted"]:
            return "本项填报已被审核通过；如需修改，请联系牵头处室退回。"
        return None

    def form_page(
        info: dict,
        status: int = 200,
        *,
        values: dict | None = None,
        problems: dict | None = None,
        closed: str | None = None,
        notice: str | None = None,
        extra_rows: int = 0,
        counts: dict[str, int] | None = None,
        failed: str = "提交",
    ) -> HTMLResponse:
        return page(
            "form.html.j2",
            status,
            t=info,
            values=values or {},
            problems=problems or {},
            errors=P.linked_errors(info["form_spec"], values or {}, problems or {}),
            closed=closed,
            notice=notice,
            extra_rows=extra_rows,
            rows_for=P.rows_for(info["param"], counts or {}),
            table=lambda f: P.table_info(f, info["param"]),
            failed=failed,
            types=TYPE_ZH,
            max_file_mb=settings.max_file // (1024 * 1024),
            max_files=settings.max_files,
        )

    def on_database_trouble(exc: DBAPIError, info: dict | None, flat: dict) -> HTMLResponse:
        busy = isinstance(exc, OperationalError) and is_lock_wait(exc)
        log.warning("database %s during a request: %s", "busy" if busy else "unreachable", str(exc.orig)[:300])
        text_ = BUSY if busy else DOWN
        if info is None:
            return message(503, text_)
        return form_page(info, 503, values=flat, notice=text_)

    # ---------------------------------------------------------------- pages

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            raw = engine.raw_connection()  # a read outside any transaction: no write lock on SQLite
            try:
                cur = raw.cursor()
                cur.execute("SELECT 1")
                cur.close()
            finally:
                raw.close()
        except Exception as exc:  # noqa: BLE001 — whatever the driver raises, the ledger does not answer
            log.warning("health check: the database does not answer: %s", str(getattr(exc, "orig", exc))[:200])
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    @app.get("/t/{token}")
    def show(token: str, request: Request, rows: int = 0) -> Response:
        try:
            found = task_for(token, client_address(request))
        except DBAPIError as exc:
            return on_database_trouble(exc, None, {})
        if isinstance(found, Response):
            return found
        _, info = found
        closed = can_submit(info)
        restored, notice = P.start_values(info, rt.cal) if not closed else (None, None)  # a draft, else a returned version
        return form_page(info, values=restored, notice=notice, closed=closed, extra_rows=min(max(rows, 0), 50))

    async def typed_values(request: Request) -> tuple[list[tuple[str, str]], str]:
        """What was typed, read without the form's own bounds (they need the ledger): at
        most 2,000 inputs of ``max_field_bytes`` each, files left out; and whether it was
        暂存 (``draft``) or anything else (``submit``: a row button is simply sent again)."""
        try:
            form = await request.form(max_files=settings.max_files + 1, max_fields=2000, max_part_size=settings.max_field_bytes)
        except Exception:  # noqa: BLE001
            return [], "submit"
        values = [(k[2:], v) for k, v in form.multi_items() if isinstance(v, str) and k.startswith("f.")][:2000]
        return values, "draft" if form.get("op") == "draft" else "submit"

    @app.post("/t/{token}")
    async def submit(token: str, request: Request) -> Response:
        client = client_address(request)
        try:
            found = await run_in_threadpool(task_for, token, client)
        except DBAPIError as exc:
            # the ledger is busy or gone before the task could be read: keep what was typed on a page
            # that can send it again
            busy = isinstance(exc, OperationalError) and is_lock_wait(exc)
            log.warning("database %s before a submission: %s", "busy" if busy else "unreachable", str(exc.orig)[:300])
            values, pressed = await typed_values(request)
            return page("retry.html.j2", 503, message=BUSY if busy else DOWN, values=values, op=pressed)
        if isinstance(found, Response):
            return found
        claims, info = found
        closed = can_submit(info)
        if closed:
            return form_page(info, 409, closed=closed)
        ctype = request.headers.get("content-type", "")
        if not (ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded")):
            return message(415, "请通过填报页面提交。")
        spec = info["form_spec"]
        inputs = max_inputs(spec, info["param"]) if spec else 0
        try:
            form = await request.form(
                max_files=settings.max_files + 1, max_fields=inputs + 20, max_part_size=settings.max_field_bytes
            )
        except Exception:  # noqa: BLE001 — a malformed or oversized body: the sender's fault
            return message(400, "提交内容无法识别或超出表单的范围，请通过填报页面重新提交。")
        op = P.parse_op(form.get("op"), spec)
        if op is None:
            return message(400, "提交内容无法识别，请通过填报页面重新提交。")
        raw: list[tuple[str, str]] = []
        files: list[Any] = []  # starlette UploadFile
        for key, value in form.multi_items():
            if key == "evidence":
                if getattr(value, "filename", None):
                    files.append(value)
            elif isinstance(value, str) and key.startswith("f."):
                raw.append((key[2:], value))
        flat, refused = bounded_flat(spec, raw, info["param"]) if spec else ({}, ["表单中没有此项"] if raw else [])
        problems: dict[str, list[str]] = {"_form": refused} if refused else {}
        counts = P.row_counts(spec, list(form.multi_items()), info["param"])
        if op.kind in ("add", "del"):  # re-rendered with what was typed; nothing stored
            flat, counts = P.apply_row_op(spec, flat, counts, op, info["param"])
            notice = P.FILES_NOT_KEPT if files else None
            return await run_in_threadpool(form_page, info, values=flat, counts=counts, problems=problems, notice=notice)
        if op.kind == "draft":
            return await run_in_threadpool(draft_page, info, flat, counts, problems, bool(files), client)
        if len(files) > settings.max_files:
            problems["evidence"] = [f"最多上传 {settings.max_files} 个附件"]
        stored: list[dict[str, Any]] = []
        for up in files[: settings.max_files]:
            data = await up.read(settings.max_file + 1)
            name = safe_display_name(up.filename or "")
            if len(data) > settings.max_file:
                problems.setdefault("evidence", []).append(f"“{name}”超过 {settings.max_file // (1024 * 1024)} MB")
                continue
            verdict = await run_in_threadpool(check_upload, data, up.content_type or "", up.filename or "")
            if not verdict.ok:
                log.warning("refused an upload for task %s from %s: %s", info["task_id"], client, verdict.reason_log)
                problems.setdefault("evidence", []).append(f"“{name}”：{verdict.reason_zh}")
                continue
            stored.append(
                {
                    "name": name,
                    "content_type": verdict.content_type,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "_data": data,
                }
            )
        if problems:
            return await run_in_threadpool(form_page, info, 422, values=flat, counts=counts, problems=problems)
        return await run_in_threadpool(record_page, info, flat, stored, client, token)

    def draft_page(info: dict, flat: dict, counts: dict, problems: dict, had_files: bool, client: str) -> Response:
        """暂存: keep what was typed (checked like a submission, but unfinished) on the server."""
        args: dict[str, Any] = {"values": flat, "counts": counts, "failed": "暂存"}
        if problems:
            return form_page(info, 422, problems=problems, **args)
        at = settings.clock()
        try:
            values = D.check_draft(rt.programme(info["programme"]).spec, info["form_spec"], flat)
            with web.begin() as s:
                D.save_draft(
                    s, task_id=info["task_id"], values=values, at=at, saved_by=f"{info['participant']} (web form)", client=client
                )
        except PayloadInvalid as exc:
            return form_page(info, 422, problems=P.problems_of(exc), **args)
        except D.DraftRefused as exc:
            return form_page(info, 409, notice=str(exc), **args)
        except DBAPIError as exc:
            return on_database_trouble(exc, info, flat)
        said = f"已暂存（{zh_datetime(at, rt.cal)}）：再次打开本链接时将恢复；暂存不是提交，请填写完整后点击“提交”。"
        return form_page(info, notice=said + (P.FILES_NOT_KEPT if had_files else ""), **args)

    def record_page(info: dict, flat: dict, stored: list[dict], client: str, token: str) -> Response:
        spec = info["form_spec"]
        payload = payload_from_flat(spec, flat) if spec else {}
        try:
            version = record_submission(rt, web, settings, info, payload, stored, client)
        except PayloadInvalid as exc:
            return form_page(info, 422, values=flat, problems=P.problems_of(exc))
        except U.NotAllowed as exc:
            return form_page(info, 409, values=flat, closed=str(exc))
        except DBAPIError as exc:
            return on_database_trouble(exc, info, flat)
        wake()
        try:
            with web() as s:
                receipt = P.receipt_of(s, info, version)
        except DBAPIError:  # committed; the receipt can be opened again from its link
            receipt = None
        return page("done.html.j2", t=info, r=receipt, version=version, token=token)

    @app.get("/t/{token}/receipt")
    def receipt(token: str, request: Request, v: int = 0) -> Response:
        """The receipt of version ``v`` (the latest when 0), laid out for one A4 page."""
        try:
            found = task_for(token, client_address(request))
            if isinstance(found, Response):
                return found
            info = found[1]
            with web() as s:
                r = P.receipt_of(s, info, v if 0 < v < 1_000_000 else None) if v >= 0 else None
        except DBAPIError as exc:
            return on_database_trouble(exc, None, {})
        if r is None or (v and r["version"] != v):
            return message(404, "没有找到该版本的提交记录。")
        return page("receipt.html.j2", t=info, r=r, token=token)

    from .console import mount_console

    mount_console(app, rt, env, settings, wake, sessions=web)

    from .api import mount_api

    mount_api(app, rt, settings, wake, sessions=web, allowed=allowed)

    return app
