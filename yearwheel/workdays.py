"""Use cases for the working-day years: import the State Council's notice into
``calendar/workdays/cn-YYYY.yaml``, or check a notice against the data Yearwheel has.

Nothing goes wrong silently: a notice that contradicts itself is refused (``NoticeInvalid``);
a notice that disagrees with data already in force — a year file, or the chinese-calendar
package (which also carries later changes such as the 2020 Spring Festival extension) — is
written only when asked to replace it, after the differences are shown; days the notice
sets in the year before (a New Year break starting in December) must agree with that year's
data.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from models.timeline import CalendarInvalid, MissingWorkdayData, WorkdayCalendar, load_workdays_file
from models.timeline.notice import Notice, NoticeInvalid, read_notice, year_file_text
from models.timeline.zhdate import iso_weekday

from .files import write_atomic

__all__ = ["ImportResult", "NoticeInvalid", "ProvisionalRefused", "draft_provisional", "import_notice", "read_text"]


@dataclass
class ImportResult:
    notice: Notice
    path: Path
    existing: str | None  # where the year's data in force comes from (None: none)
    differences: list[str] = field(default_factory=list)  # notice vs the data in force, in Chinese
    spill_problems: list[str] = field(default_factory=list)  # days set in the year before that disagree
    notes: list[str] = field(default_factory=list)
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences and not self.spill_problems


def read_text(raw: bytes) -> str:
    """A notice as saved from a browser or Notepad: UTF-8 (with or without BOM), else GB18030
    (which reads any byte string)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def _status(cal: WorkdayCalendar, day: dt.date) -> str:
    return "上班" if cal.is_workday(day) else "休息"


def differences(notice: Notice, cal: WorkdayCalendar) -> list[str]:
    """Each day of the notice's year on which the notice and ``cal`` disagree."""
    mine = notice.flips()
    theirs = cal.exceptions(notice.year)
    out = []
    for d in sorted(mine ^ theirs):
        says = "休息" if (d.weekday() < 5) == (d in mine) else "上班"
        out.append(f"{iso_weekday(d, long=True)}：通知为{says}，现有数据为{_status(cal, d)}")
    return out


def import_notice(text: str, workdays_dir: Path, *, check: bool = False, replace: bool = False) -> ImportResult:
    """Read the notice; with ``check``, only compare it with the data in force; otherwise
    write ``cn-YYYY.yaml`` when there is no data for the year yet, or when ``replace`` is
    given for data that differs. Raises NoticeInvalid for a notice that cannot be trusted."""
    notice = read_notice(text)
    cal = WorkdayCalendar.from_directory(workdays_dir)
    path = workdays_dir / f"cn-{notice.year}.yaml"
    existing: str | None
    try:
        existing = cal.source(notice.year)
    except MissingWorkdayData:  # none, or a broken file that the import will replace
        existing = None
    result = ImportResult(notice, path, existing)
    if cal.is_provisional(notice.year):
        result.notes.append(
            f"{path.name} 现为暂定安排：以通知的正式安排替换，下一次 advance 将按正式安排重新计算并放行暂缓的提醒"
        )
    if existing is not None:
        result.differences = differences(notice, cal)
    rest, work = notice.spill()
    if rest or work:
        before = notice.year - 1
        if cal.covers(before):
            wrong = [f"{iso_weekday(d, long=True)}：通知为休息，{before}年的数据为上班" for d in rest if cal.is_workday(d)]
            wrong += [f"{iso_weekday(d, long=True)}：通知为上班，{before}年的数据为休息" for d in work if not cal.is_workday(d)]
            result.spill_problems = [f"{w}（请在 cn-{before}.yaml 中改正）" for w in wrong]
            if not wrong:
                result.notes.append(
                    f"通知中{before}年的日期（{'、'.join(iso_weekday(d, long=True) for d in rest + work)}）与{before}年的数据一致"
                )
        else:
            result.spill_problems = [
                f"通知安排了{before}年的日期（{'、'.join(iso_weekday(d, long=True) for d in rest + work)}），但没有{before}年的数据"
            ]
    result.notes += notice.notes
    if notice.skipped:
        result.notes += [f"未计入（倡议，不改变工作日）：{s}" for s in notice.skipped]
    if check or result.spill_problems:
        return result
    if existing is not None and not result.differences and path.exists():
        result.notes.append(f"{path.name} 已与通知一致，未改动")
        return result
    if existing is not None and result.differences and not replace:
        return result
    body = year_file_text(notice)
    with tempfile.TemporaryDirectory() as tmp:  # the file must load before it replaces anything
        probe = Path(tmp) / path.name
        probe.write_text(body, encoding="utf-8")
        try:
            load_workdays_file(probe)
        except CalendarInvalid as exc:  # a defect of ours, not of the notice: say so loudly
            raise RuntimeError(f"the generated {path.name} does not load: {exc}") from exc
    write_atomic(path, body)
    result.written = True
    return result


class ProvisionalRefused(ValueError):
    """A provisional year is drafted only for a year with no official data."""


def draft_provisional(year: int, workdays_dir: Path) -> tuple[Path, list[str]]:
    """Write ``cn-YYYY.yaml`` for a year not announced yet, ``provisional: true``; returns
    the file and what it guessed. Refuses a year that has official data."""
    from models.timeline.provisional import RULES_SINCE, provisional_year_text

    if year < RULES_SINCE:
        raise ProvisionalRefused(f"{year}年的放假安排早已公布：暂定安排只用于{RULES_SINCE}年及以后尚未公布的年份")
    cal = WorkdayCalendar.from_directory(workdays_dir)
    path = workdays_dir / f"cn-{year}.yaml"
    state, detail = cal.status(year)
    if state == "official":
        raise ProvisionalRefused(f"{year}年已有正式安排（{detail}），不能用暂定安排替换")
    body = provisional_year_text(year)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / path.name
        probe.write_text(body, encoding="utf-8")
        spec = load_workdays_file(probe)
    write_atomic(path, body)
    return path, list(spec.guesses)
