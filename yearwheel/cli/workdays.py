"""``yearwheel workdays``: next year's working days from the State Council's notice."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import EXIT_INPUT, CalendarDirOpt, calendar_folder, err, fail

app = typer.Typer()
workdays_app = typer.Typer(
    help="Working-day years: import the State Council's holiday notice, or draft a provisional year.", no_args_is_help=True
)
app.add_typer(workdays_app, name="workdays")


@workdays_app.command("import")
def import_(
    notice: Annotated[str, typer.Argument(help="the notice as plain text (a file, or - for standard input)")],
    check: Annotated[bool, typer.Option("--check", help="only compare the notice with the data in force; write nothing")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="write the year file even though the data in force differs (shown first)")
    ] = False,
    workdays_dir: Annotated[
        Optional[Path], typer.Option("--dir", help="where the year files are (default: <calendar dir>/workdays)")
    ] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Read 《国务院办公厅关于YYYY年部分节假日安排的通知》 as copied from an official site and
    write calendar/workdays/cn-YYYY.yaml; refuse a notice that contradicts itself."""
    from yearwheel.workdays import NoticeInvalid, import_notice, read_text

    if notice == "-":
        raw = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        try:
            raw = Path(notice).read_bytes()
        except OSError as exc:
            raise fail(f"cannot read {notice}: {exc.strerror or exc}") from None
        name = notice
    folder = workdays_dir or calendar_folder(calendar_dir) / "workdays"
    try:
        r = import_notice(read_text(raw), folder, check=check, replace=replace)
    except NoticeInvalid as exc:
        for p in exc.problems:
            err(f"{name}:{p.line}: {p.message}\n    “{p.sentence}”")
        raise fail(f"{name}: 通知有 {len(exc.problems)} 处无法确认，未写入任何文件（请对照原文改正后重新导入）") from None
    n = r.notice
    breaks, work = n.in_year()
    print(f"{n.source}：{len(breaks)} 个假期、{len(work)} 个调休上班日")
    for b in breaks:
        days = (b.last - b.first).days + 1
        print(f"  {b.name}：{b.first.isoformat()} 至 {b.last.isoformat()}（{days}天）")
    if work:
        print("  调休上班：" + "、".join(d.isoformat() for d in work))
    for note in r.notes:
        print(f"  {note}")
    for problem in r.spill_problems:
        err(f"error: {problem}")
    if r.differences:
        err(f"通知与现有数据（{r.existing}）不一致，{len(r.differences)} 天：")
        for d in r.differences:
            err(f"  {d}")
    if r.written:
        print(f"wrote {r.path}")
        if r.differences:
            print("  已按通知替换现有数据；下一次 advance 将重新计算受影响的截止日期并通知相关单位")
        return
    if check:
        if r.ok:
            print(f"一致：通知与现有数据（{r.existing or '无'}）相同" if r.existing else f"{n.year}年还没有数据：可以导入")
            return
        raise typer.Exit(EXIT_INPUT)
    if r.spill_problems:
        raise fail("未写入任何文件：先改正上一年的数据")
    if r.differences:
        raise fail(f"未写入 {r.path.name}：核对上面的差异后，用 --replace 以通知为准替换")


@workdays_app.command("provisional")
def provisional(
    year: Annotated[int, typer.Argument(help="a year the State Council has not announced yet, e.g. 2027")],
    workdays_dir: Annotated[
        Optional[Path], typer.Option("--dir", help="where the year files are (default: <calendar dir>/workdays)")
    ] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Draft next year's working days from the holiday rules in force since 2025, marked
    provisional (暂定): only programmes that opt in plan on it, and nothing dated on it is sent."""
    from yearwheel.workdays import ProvisionalRefused, draft_provisional

    folder = workdays_dir or calendar_folder(calendar_dir) / "workdays"
    try:
        path, guesses = draft_provisional(year, folder)
    except ProvisionalRefused as exc:
        raise fail(str(exc)) from None
    print(f"wrote {path}（暂定，{len(guesses)} 项推算）：")
    for g in guesses:
        print(f"  推算：{g}")
    print(
        "  只有在日历中设置 programme.provisional_workdays: true 的计划会使用它；依赖它的日期标注“暂定”，"
        "相关提醒暂缓发送，直到 yearwheel workdays import 导入国务院通知。"
    )
