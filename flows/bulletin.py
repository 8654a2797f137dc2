"""Prefect flow ``bulletin``: on the first working day of a month, last month's bulletin
(月度通报) of every programme with a ``bulletin:`` section — the Word file, an HTML copy
beside it, a markdown artifact in the Prefect UI — sent to the roles the calendar names.

The deployment wakes it at 09:00 on the first ten days of every month; the engine's
working-day calendar decides whether today is the day (the first working day after a
Spring Festival break can be the 8th), so cron alone never sends it on a rest day, and
the outbox key (programme, month, recipient) sends it once however often it runs."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from prefect import flow

from flows.run_log import run_log
from yearwheel import usecases as R


@flow(name="bulletin")
def bulletin(
    at: Optional[dt.datetime] = None,
    programme: Optional[str] = None,
    calendar_dir: Optional[str] = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Write and send last month's bulletins when ``at`` (default now) is the first working day of its month.

    Args:
        at: the instant (default: now).
        programme: one programme id (default: every calendar).
        calendar_dir: the calendar folder (default: $YEARWHEEL_CALENDAR_DIR or ./calendar).
        force: write and send whatever the day (a coordinator's re-run; each recipient still gets it once).
    """
    from flows.artifacts import publish_bulletin
    from yearwheel import evaluations as E
    from yearwheel.reports.documents import bulletin_html, write_html

    instant = R.to_instant(at)
    out = []
    with run_log(), R.opened(calendar_dir, programme) as rt:
        for run in E.monthly_bulletins(rt, instant, force=force):
            if run.bulletin is not None and run.written is not None:
                write_html(bulletin_html(run.bulletin), run.written.with_suffix(".html"))
                publish_bulletin(run.bulletin, run.written)
            out.append(
                {"programme": run.programme, "year": run.year, "month": run.month, "queued": run.queued, "result": run.reason}
            )
    return out
