"""Message text (zh-CN): Jinja2 templates in ``notifications/templates/``, one per kind.

Every date is written out in full with its weekday, and why it surprises where it does
(2023年4月23日（星期日，调休上班）), so that a bureau never has to work a deadline out
(``models.timeline.zhdate``, given the working-day calendar); SMS and chat get one short
paragraph.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context

from models.timeline.zhdate import DayNotes, zh_date, zh_date_short, zh_datetime
from models.vocabulary import KINDS

SHORT_LIMIT = 200


@dataclass(frozen=True)
class MessageContext:
    kind: str
    programme_id: str
    programme_title: str
    year: int
    milestone_id: str
    milestone_title: str
    participant_id: str
    participant_name: str
    due: dt.date
    nominal_due: dt.date | None = None
    opens: dt.date | None = None
    form_title: str | None = None
    working_days_left: int | None = None
    working_days_late: int | None = None
    chaser_number: int | None = None
    escalated_to: str | None = None
    submitted_at: dt.datetime | None = None
    on_time: bool | None = None
    version: int | None = None
    reason: str | None = None
    link: str | None = None
    task_id: int | None = None  # for the signed intake link
    target_title: str | None = None  # target_behind: the target, what is achieved, what was expected by now
    target_value: float | None = None
    target_expected: float | None = None
    target_goal: float | None = None
    target_unit: str | None = None
    old_due: dt.date | None = None  # due_changed: the date that no longer holds
    receipt: str | None = None  # acknowledgement: the receipt number (models.receipts), as on the receipt page
    items: tuple[dict, ...] | list | None = None  # digest: the escalated tasks, newest first
    lines: tuple[str, ...] | list | None = None  # bulletin: its paragraphs and table rows


@pass_context
def _cn_date(ctx, d: dt.date) -> str:
    return zh_date(d, ctx.get("_cal"))


@pass_context
def _cn_datetime(ctx, t: dt.datetime) -> str:
    return zh_datetime(t, ctx.get("_cal"))


_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=False,  # plain text; nothing here is rendered as HTML
    keep_trailing_newline=False,
)
_env.filters.update(cn_date=_cn_date, cn_date_short=zh_date_short, cn_datetime=_cn_datetime)


def render(ctx: MessageContext, channel: str, cal: DayNotes | None = None) -> tuple[str, str]:
    """(subject, body) of the message for ``channel``: a letter for email, one short
    paragraph (at most 200 characters) for SMS and chat. With ``cal`` (the working-day
    calendar), dates say when they are an adjusted working day or inside a break."""
    if ctx.kind not in KINDS:
        raise ValueError(f"unknown message kind {ctx.kind!r}; known: {', '.join(KINDS)}")
    tmpl = _env.get_template(f"{ctx.kind}.j2")
    values = {k: getattr(ctx, k) for k in ctx.__dataclass_fields__}
    values["_cal"] = cal
    subject = " ".join(tmpl.render(values, part="subject").split())
    if channel == "email":
        body = tmpl.render(values, part="email").strip() + "\n"
        return subject, body
    short = " ".join(tmpl.render(values, part="short").split())
    if len(short) > SHORT_LIMIT:
        short = short[: SHORT_LIMIT - 1] + "…"
    return subject, short
