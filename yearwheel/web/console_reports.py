"""The console's evaluation and bulletin pages (mounted by ``console.mount_console``):

    GET  /console/p/{programme}/{year}/evaluation            the ranking of every cohort
    GET  /console/p/{programme}/{year}/evaluation.{docx|xlsx} the evaluation table as a file
    GET  /console/p/{programme}/{year}/participant/{id}      one participant's scores, explained
    POST /console/p/{programme}/{year}/participant/{id}/rate  a coordinator's rating (0–100, a comment)
    GET  /console/p/{programme}/{year}/bulletin/{month}      the month's bulletin
    GET  /console/p/{programme}/{year}/bulletin/{month}.docx the bulletin as a Word file

The same use cases as ``yearwheel evaluate | rate | bulletin`` (``yearwheel.evaluations``);
the pages show the same HTML as the files. Database and document work runs in the thread
pool, every input is bounded first, and a viewer reads but never rates.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from models.evaluation import NoScorecard
from yearwheel import evaluations as E
from yearwheel import usecases as R

log = logging.getLogger("yearwheel.web")

Year = Annotated[int, PathParam(ge=1900, le=9999)]
Month = Annotated[int, PathParam(ge=1, le=12)]
Pid = Annotated[str, PathParam(max_length=64, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Pages:
    """What the console gives the pages mounted here."""

    who: Callable[[Request], Any]
    to_login: Callable[[Request], Response]
    render: Callable[..., Response]
    refused: Callable[..., Response]
    posted: Callable[..., Any]
    acting: Callable[..., Any]
    now: Callable[[], dt.datetime]


def mount_reports(app: FastAPI, rt: R.Runtime, p: Pages) -> None:
    def seen(request: Request, programme: str):
        """(user, csrf) of a signed-in user who may see ``programme``, or the answer to give."""
        found = p.who(request)
        if found is None:
            return p.to_login(request)
        user, csrf = found
        if not user.sees(programme) or programme not in {x.id for x in rt.programmes}:
            return p.refused(404, "没有这个计划年度，或您无权查看。", user, csrf)
        return user, csrf

    def evaluated(request: Request, programme: str, year: int):
        """(user, csrf, the evaluation) for a user who may see it, or the answer to give."""
        found = seen(request, programme)
        if isinstance(found, Response):
            return found
        user, csrf = found
        try:
            return user, csrf, E.evaluate(rt, programme, year, p.now())
        except NoScorecard:
            return p.refused(404, "该计划的日历未设置考评（scorecard），请在日历中补充后再查看。", user, csrf)
        except E.NotInLedger:
            return p.refused(404, "该年度尚未编入台账。", user, csrf)

    def bulletined(request: Request, programme: str, year: int, month: int):
        """(user, csrf, the month's bulletin) for a user who may see it, or the answer to give."""
        found = seen(request, programme)
        if isinstance(found, Response):
            return found
        user, csrf = found
        if dt.date(year, month, 1) > p.now().date():
            return p.refused(404, f"{year}年{month}月尚未开始，没有可通报的内容。", user, csrf)
        return user, csrf, E.bulletin(rt, programme, year, month, p.now())

    @app.get("/console/p/{programme}/{year}/evaluation")
    def evaluation_page(request: Request, programme: str, year: Year) -> Response:
        found = evaluated(request, programme, year)
        if isinstance(found, Response):
            return found
        user, csrf, e = found
        from yearwheel.reports.documents import evaluation_html

        base = f"/console/p/{quote(programme)}/{year}"
        html = evaluation_html(e, fragment=True, link=lambda pid: f"{base}/participant/{quote(pid)}")
        return p.render(
            "console_document.html.j2",
            user=user,
            csrf=csrf,
            title=f"{year}年度考评",
            html=html,
            base=base,
            downloads=[(f"{base}/evaluation.docx", "Word 考评表"), (f"{base}/evaluation.xlsx", "Excel 考评表")],
        )

    @app.get("/console/p/{programme}/{year}/evaluation.{suffix}")
    def evaluation_file(request: Request, programme: str, year: Year, suffix: str) -> Response:
        if suffix not in ("docx", "xlsx"):
            return p.refused(404, "没有这种格式（可下载 .docx 或 .xlsx）。")
        found = evaluated(request, programme, year)
        if isinstance(found, Response):
            return found
        _, _, e = found
        from yearwheel.reports import documents as D

        data = _as_bytes(D.write_evaluation_docx if suffix == "docx" else D.write_evaluation_xlsx, e, suffix)
        return _download(data, DOCX if suffix == "docx" else XLSX, f"{programme}-{year}-evaluation.{suffix}")

    @app.get("/console/p/{programme}/{year}/participant/{pid}")
    def participant_page(request: Request, programme: str, year: Year, pid: Pid) -> Response:
        found = evaluated(request, programme, year)
        if isinstance(found, Response):
            return found
        user, csrf, e = found
        score = e.participant(pid)
        if score is None:
            return p.refused(404, "该单位不在考评范围内。", user, csrf)
        spec = rt.programme(programme).spec
        rated = [i for i in spec.scorecard.indicators if i.measure == "rating"] if spec.scorecard else []
        done = request.query_params.get("done") == "rate"
        return p.render(
            "console_participant.html.j2",
            user=user,
            csrf=csrf,
            programme=programme,
            year=year,
            s=score,
            rated=rated,
            can_rate=user.acts_on(programme),
            note="已记录评分。" if done else "",
            base=f"/console/p/{quote(programme)}/{year}",
        )

    @app.post("/console/p/{programme}/{year}/participant/{pid}/rate")
    async def rate(request: Request, programme: str, year: Year, pid: Pid) -> Response:
        form = await p.posted(request, "csrf", "indicator", "score", "comment")
        found = await p.acting(request, form)
        if isinstance(found, Response):
            return found
        user, csrf = found
        assert form is not None
        if not user.acts_on(programme):
            return p.refused(403, "您的账号只能查看，不能评分。", user, csrf)
        if not re.fullmatch(r"[0-9]{1,3}", form["score"].strip()):
            return p.refused(422, "评分须为 0–100 的整数。", user, csrf)
        try:
            await run_in_threadpool(
                E.rate,
                rt,
                programme,
                year,
                pid,
                form["indicator"][:64],
                int(form["score"].strip()),
                form["comment"],
                actor=user.username,
                at=p.now(),
            )
        except (NoScorecard, ValueError, LookupError) as exc:
            return p.refused(422, f"未记录：{exc}", user, csrf)
        log.info("console: %s rated %s %s %s", user.username, programme, year, pid)
        return RedirectResponse(f"/console/p/{quote(programme)}/{year}/participant/{quote(pid)}?done=rate", status_code=303)

    @app.get("/console/p/{programme}/{year}/bulletin/{month}.docx")
    def bulletin_file(request: Request, programme: str, year: Year, month: Month) -> Response:
        found = bulletined(request, programme, year, month)
        if isinstance(found, Response):
            return found
        _, _, b = found
        from yearwheel.reports.documents import write_bulletin_docx

        return _download(_as_bytes(write_bulletin_docx, b, "docx"), DOCX, f"{programme}-{year}-{month:02d}-bulletin.docx")

    @app.get("/console/p/{programme}/{year}/bulletin/{month}")
    def bulletin_page(request: Request, programme: str, year: Year, month: Month) -> Response:
        found = bulletined(request, programme, year, month)
        if isinstance(found, Response):
            return found
        user, csrf, b = found
        from yearwheel.reports.documents import bulletin_html

        base = f"/console/p/{quote(programme)}/{year}"
        return p.render(
            "console_document.html.j2",
            user=user,
            csrf=csrf,
            title=f"{year}年{month}月通报",
            base=base,
            html=bulletin_html(b, fragment=True),
            downloads=[(f"{base}/bulletin/{month}.docx", "Word 通报")],
        )


def _as_bytes(writer: Callable[[Any, Path], None], obj: Any, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="yw-doc-") as d:
        path = Path(d) / f"out.{suffix}"
        writer(obj, path)
        return path.read_bytes()


def _download(data: bytes, media: str, name: str) -> Response:
    return Response(
        io.BytesIO(data).getvalue(),
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"},
    )
