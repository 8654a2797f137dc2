"""The year report: one self-contained HTML page (inline CSS and SVG, no script, no
external request) drawn from a ``YearView`` — a Gantt of the milestones with nominal and
effective due dates, the participants × milestones heat map, target progress bars and
the late items. Readable in Chinese; opens from a file or an e-mail attachment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models.timeline import TZ, local_day, minute
from models.timeline.zhdate import zh_date as _zh_date
from models.yearview import LIGHTS, YearView, workdays_text

from ..files import write_atomic

KIND_ZH = {"announcement": "发布", "submission": "报送", "window": "时段", "meeting": "会议", "review": "评审"}

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def zh_date(d: dt.date, cal=None) -> str:
    """The report's dates: 2023年4月23日（周日，调休上班）."""
    return _zh_date(d, cal, long=False)


@dataclass
class Bar:
    """One Gantt row in SVG user units."""

    y: float
    x0: float  # opens (or due when no opening)
    x1: float  # effective due
    nominal: float  # nominal due
    moved: bool
    light: str  # the row's dominant state, for colour


class Gantt:
    """Geometry of the Gantt: x in days from January 1st, scaled to ``width``."""

    LABEL = 230
    ROW = 22
    TOP = 28

    def __init__(self, view: YearView, width: int = 1100) -> None:
        self.year = view.year
        self.start = dt.date(view.year, 1, 1)
        self.days = (dt.date(view.year + 1, 1, 1) - self.start).days
        self.width = width
        self.scale = (width - self.LABEL - 10) / self.days
        self.height = self.TOP + self.ROW * len(view.milestones) + 10
        today = local_day(view.as_of)
        self.today_x = self.x(today) if today.year == view.year else None
        self.months = [(self.x(dt.date(view.year, m, 1)), f"{m}月") for m in range(1, 13)]
        self.bars = []
        for i, m in enumerate(view.milestones):
            start = m.opens if m.opens and m.opens.year == view.year and m.opens <= m.due else m.due
            worst = next(
                (k for k in ("overdue", "due_soon", "on_track", "late", "on_time", "not_open", "exempted") if m.lights.get(k)),
                "not_open",
            )
            self.bars.append(
                Bar(
                    self.TOP + i * self.ROW,
                    self.x(start),
                    self.x(m.due) + self.scale,
                    self.x(m.nominal_due) + self.scale / 2,
                    m.moved,
                    worst,
                )
            )

    def x(self, d: dt.date) -> float:
        days = min(max((d - self.start).days, 0), self.days)
        return round(self.LABEL + days * self.scale, 1)


def console_link(web_url: str | None, path: str) -> str | None:
    """The console's page at ``path`` when $YEARWHEEL_WEB_URL says where it is."""
    return f"{web_url.rstrip('/')}{path}" if web_url else None


def render_year_report(view: YearView, web_url: str | None = None) -> str:
    as_of = view.as_of.astimezone(TZ)
    return _env.get_template("year.html.j2").render(
        v=view,
        console=lambda path: console_link(web_url, path),
        workdays_text=workdays_text,
        gantt=Gantt(view),
        lights=LIGHTS,
        counts=view.lights(),
        as_of=f"{zh_date(as_of.date(), view.cal)} {as_of:%H:%M}",
        zh_date=lambda d: zh_date(d, view.cal),
        local=minute,
        kind_zh=KIND_ZH,
        pct=lambda x: "—" if x is None else f"{x:.0%}",
    )


def write_year_report(view: YearView, path: Path, web_url: str | None = None) -> Path:
    """Write atomically: a reader never sees half a page."""
    return write_atomic(path, render_year_report(view, web_url))
