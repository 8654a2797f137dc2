"""The bureau intake service (FastAPI): a form behind each signed link, and the
coordinator's actions behind a separate token.

    GET  /t/{token}            the task, its due date and the form (Chinese)
    POST /t/{token}            submit (multipart: fields + evidence files); a new version
                               each time until the coordinator accepts
    POST /api/coordinator/{accept|return|extend|exempt}
                               JSON {programme, year, milestone, participant, actor, reason, to?},
                               header "Authorization: Bearer $YEARWHEEL_COORDINATOR_TOKEN"
    GET  /healthz

A wrong, tampered or expired link gets the same 403 page, whatever the reason (the reason
goes to the log). A link reaches exactly one task: the task id and participant are in the
signed claims, never in a parameter. Requests are size-limited (413) and rate-limited
per link (429). Everything rendered back is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select

from flows import runtime as R
from models import links
from models import submissions as U
from models.forms import PayloadInvalid, find_form
from models.formtext import payload_from_flat, zh_message
from models.tables import MilestoneInstance, ProgrammeYear, Submission, Task
from models.timeline import TZ

log = logging.getLogger("yearwheel.intake")

ENV_COORDINATOR_TOKEN = "YEARWHEEL_COORDINATOR_TOKEN"
ENV_ATTACHMENT_DIR = "YEARWHEEL_ATTACHMENT_DIR"

# Evidence files: what is accepted, recognised by content, not by the name or declared type.
ALLOWED_TYPES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
}
TYPE_ZH = "PDF、PNG、JPEG、Word（.docx）、Excel（.xlsx）"
WEEKDAYS = "一二三四五六日"


@dataclass
class Settings:
    secret: bytes
    coordinator_token: str | None = None
    attachment_dir: Path = Path("attachments")
    max_body: int = 12 * 1024 * 1024  # the whole request
    max_file: int = 5 * 1024 * 1024  # one evidence file
    max_files: int = 5
    rate: int = 20  # requests per link …
    per_seconds: float = 600.0  # … per this window
    clock: Any = field(default=lambda: dt.datetime.now(dt.timezone.utc))

    @classmethod
    def from_env(cls) -> Settings:
        from notifications.messenger import ENV_LINK_SECRET

        secret = os.environ.get(ENV_LINK_SECRET)
        if not secret:
            raise ValueError(f"{ENV_LINK_SECRET} is not set: the intake signs and checks links with it")
        return cls(links.check_secret(secret.encode()), os.environ.get(ENV_COORDINATOR_TOKEN) or None,
                   Path(os.environ.get(ENV_ATTACHMENT_DIR) or "attachments"))


class RateLimit:
    """A sliding window per key (a link's hash, or a client address for bad links)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.hits: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            q = self.hits[key]
            while q and q[0] <= now - self.seconds:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True


def zh_date(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日（星期{WEEKDAYS[d.weekday()]}）"


def sniff(data: bytes, declared: str) -> str | None:
    """The allowed content type this file really is (None: refused)."""
    declared = (declared or "").split(";")[0].strip().lower()
    magic = ALLOWED_TYPES.get(declared)
    if magic and any(data.startswith(m) for m in magic):
        return declared
    return None


def create_app(rt: R.Runtime, settings: Settings) -> FastAPI:
    app = FastAPI(title="Yearwheel intake", docs_url=None, redoc_url=None, openapi_url=None)
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    limiter = RateLimit(settings.rate, settings.per_seconds)
    bad_link_limiter = RateLimit(settings.rate * 3, settings.per_seconds)

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(zh_date=zh_date, **ctx), status_code=status,
                            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                                     "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                                     "Referrer-Policy": "no-referrer"})

    def denied() -> HTMLResponse:
        return page("denied.html.j2", 403)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # noqa: ANN001, ANN202
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > settings.max_body):
            return page("error.html.j2", 413, message=f"提交内容过大（上限 {settings.max_body // (1024 * 1024)} MB）。")
        if request.method == "POST" and declared is None:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > settings.max_body:
                    return page("error.html.j2", 413, message=f"提交内容过大（上限 {settings.max_body // (1024 * 1024)} MB）。")
            request._body = body  # noqa: SLF001 — read once, within the limit
        return await call_next(request)

    def task_for(token: str, client: str) -> tuple[links.Claims, dict] | Response:
        tid = links.token_id(token)
        try:
            claims = links.verify(settings.secret, token, now=settings.clock())
        except links.LinkInvalid as exc:
            log.warning("refused link %s from %s: %s", tid, client, exc.why)
            if not bad_link_limiter.allow(f"bad:{client}"):
                return page("error.html.j2", 429, message="请求过于频繁，请稍后再试。")
            return denied()
        if not limiter.allow(tid):
            return page("error.html.j2", 429, message="请求过于频繁，请稍后再试。")
        with rt.sessions() as s:
            row = s.execute(
                select(Task, MilestoneInstance, ProgrammeYear)
                .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
                .join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id)
                .where(Task.id == claims.task_id)
            ).one_or_none()
            if row is None or row[0].participant != claims.participant:
                log.warning("link %s names task %s of %s: not in the ledger", tid, claims.task_id, claims.participant)
                return denied()
            task, mi, py = row
            versions = s.scalar(select(func.count()).select_from(Submission).where(Submission.task_id == task.id))
            info = {"task_id": task.id, "participant": task.participant, "state": task.state, "due": task.due,
                    "accepted": task.accepted_at is not None, "versions": versions, "programme": py.programme,
                    "year": py.year, "milestone": mi.milestone, "title": mi.title, "form": mi.form, "programme_title": py.title}
        try:
            prog = rt.programme(info["programme"])
        except LookupError:
            return denied()
        info["participant_name"] = prog.names.get(task.participant, task.participant)
        info["form_spec"] = find_form(prog.spec, info["form"]) if info["form"] else None
        return claims, info

    def can_submit(info: dict) -> str | None:
        if info["state"] == "exempted":
            return "本项任务已豁免，无需填报。"
        if info["accepted"]:
            return "本项填报已被审核通过；如需修改，请联系牵头处室退回。"
        return None

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/t/{token}")
    def show(token: str, request: Request, rows: int = 0) -> Response:
        found = task_for(token, request.client.host if request.client else "?")
        if isinstance(found, Response):
            return found
        _, info = found
        return page("form.html.j2", t=info, values={}, problems={}, closed=can_submit(info), extra_rows=min(max(rows, 0), 50),
                    rows_for=rows_for(rt, info),
                    types=TYPE_ZH, max_file_mb=settings.max_file // (1024 * 1024), max_files=settings.max_files)

    @app.post("/t/{token}")
    async def submit(token: str, request: Request, background: BackgroundTasks) -> Response:
        found = task_for(token, request.client.host if request.client else "?")
        if isinstance(found, Response):
            return found
        claims, info = found
        ctx = {"t": info, "types": TYPE_ZH, "max_file_mb": settings.max_file // (1024 * 1024), "max_files": settings.max_files,
               "extra_rows": 0, "rows_for": rows_for(rt, info)}
        closed = can_submit(info)
        if closed:
            return page("form.html.j2", 409, values={}, problems={}, closed=closed, **ctx)
        ctype = request.headers.get("content-type", "")
        if not (ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded")):
            return page("error.html.j2", 415, message="请通过填报页面提交。")
        try:
            form = await request.form(max_files=settings.max_files + 1, max_fields=2000)
        except Exception:  # noqa: BLE001 — a malformed body: the sender's fault
            return page("error.html.j2", 400, message="提交内容无法识别，请通过填报页面重新提交。")
        flat: dict[str, Any] = {}
        files = []
        for key, value in form.multi_items():
            if key == "evidence":
                if getattr(value, "filename", None):
                    files.append(value)
            elif isinstance(value, str) and key.startswith("f."):
                flat[key[2:]] = value
        problems: dict[str, list[str]] = {}
        stored: list[dict[str, Any]] = []
        if len(files) > settings.max_files:
            problems["evidence"] = [f"最多上传 {settings.max_files} 个附件"]
        for up in files[: settings.max_files]:
            data = await up.read(settings.max_file + 1)
            name = Path(up.filename or "附件").name[:200]
            if len(data) > settings.max_file:
                problems.setdefault("evidence", []).append(f"“{name}”超过 {settings.max_file // (1024 * 1024)} MB")
                continue
            kind = sniff(data, up.content_type or "")
            if kind is None:
                problems.setdefault("evidence", []).append(f"“{name}”的文件类型不允许（仅限 {TYPE_ZH}）")
                continue
            stored.append({"name": name, "content_type": kind, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                           "_data": data})
        spec = info["form_spec"]
        payload = payload_from_flat(spec, flat) if spec else {}
        if not problems:
            try:
                version = _record(rt, settings, info, payload, stored, request)
            except PayloadInvalid as exc:
                for p in exc.problems:
                    problems.setdefault(p.path or "_form", []).append(f"{p.label}：{zh_message(p)}" if p.label else zh_message(p))
            except U.NotAllowed as exc:
                return page("form.html.j2", 409, values=flat, problems={}, closed=str(exc), **ctx)
            else:
                background.add_task(rt.dispatch, settings.clock())
                return page("done.html.j2", t=info, version=version, files=[{k: v for k, v in f.items() if k != "_data"} for f in stored],
                            at=settings.clock().astimezone(TZ))
        return page("form.html.j2", 422, values=flat, problems=problems, closed=None, **ctx)

    @app.post("/api/coordinator/{action}")
    async def coordinator(action: str, request: Request) -> Response:
        token = settings.coordinator_token
        given = request.headers.get("authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        if action not in ("accept", "return", "extend", "exempt"):
            return JSONResponse({"error": f"unknown action {action!r}: accept, return, extend or exempt"}, status_code=404)
        try:
            body = await request.json()
            args = {k: body[k] for k in ("programme", "year", "milestone", "participant", "actor", "reason")}
            if not all(isinstance(args[k], str) and args[k].strip() for k in ("programme", "milestone", "participant", "actor", "reason")):
                raise ValueError
            year = int(args.pop("year"))
            new_due = dt.date.fromisoformat(body["to"]) if action == "extend" else None
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected JSON {programme, year, milestone, participant, actor, reason"
                                 + (", to (YYYY-MM-DD)" if action == "extend" else "") + "}"}, status_code=422)
        from models.states import TransitionRefused

        try:
            done = R.coordinator_action(rt, action, args["programme"], year, args["milestone"], args["participant"],
                                        actor=args["actor"], reason=args["reason"], at=settings.clock(), new_due=new_due)
        except U.NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except (U.NotAllowed, TransitionRefused, LookupError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(done)

    return app


def rows_for(rt: R.Runtime, info: dict):  # noqa: ANN201
    """How many rows a table field shows: its minimum (at least 3), or as many as were sent."""
    spec = rt.programme(info["programme"]).spec

    def rows(f, values: dict, extra: int) -> int:  # noqa: ANN001
        sent = {int(k.split(".")[1]) for k in values if k.startswith(f.id + ".") and k.split(".")[1].isdigit()}
        least = spec.parameter_value(f.min_rows) or 0
        return max(int(least), 3, (max(sent) + 1) if sent else 0) + extra

    return rows


def _record(rt: R.Runtime, settings: Settings, info: dict, payload: dict, stored: list[dict], request: Request) -> int:
    """Validate and record one submission; evidence files are written only once it is valid."""
    from models.submissions import find_task, submit

    prog = rt.programme(info["programme"])
    at = settings.clock()
    with rt.sessions.begin() as s:
        ref = find_task(s, info["programme"], info["year"], info["milestone"], info["participant"])
        folder = settings.attachment_dir / str(ref.task.id)
        meta = []
        for f in stored:
            meta.append({k: v for k, v in f.items() if k != "_data"} | {"path": str(folder / f["sha256"])})
        client = request.client.host if request.client else "?"
        sub = submit(s, prog, ref, payload, at=at, actor=f"{info['participant']} (web form)",
                     source=f"web intake from {client}", messenger=rt.messenger, cal=rt.cal, attachments=meta)
        for f in stored:  # inside the transaction: a failed write records nothing
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f["sha256"]
            if not target.exists():
                tmp = target.with_suffix(".part")
                tmp.write_bytes(f["_data"])
                tmp.replace(target)
        return sub.version
