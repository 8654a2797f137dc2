"""What a coordinator reads in the Prefect UI: keyed artifacts (the UI keeps every
version under a key, so history is kept), drawn from ``models.yearview``.

Per programme year:
- ``status-<programme>-<year>``: table, participants × milestones in traffic-light colours;
- ``progress-<programme>-<year>-<milestone>``: progress (% submitted) of each open milestone;
- ``report-<programme>-<year>``: link to the HTML year report.
Per ``advance`` run: ``advance-<programme|all>``: markdown — what the run did, targets,
and the report links.

Artifact keys allow lowercase letters, digits and dashes only; programme and milestone
ids are validated to that alphabet (plus '_', replaced here).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote
from typing import Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_progress_artifact, create_table_artifact

from models.timeline import local_day, minute, to_instant
from models.timeline.zhdate import zh_date, zh_relative
from models.vocabulary import KINDS
from models.yearview import DUE_SOON, LIGHTS, ON_TRACK, YearView
from yearwheel import usecases as R
from yearwheel.reports.html import console_link, write_year_report

KIND_ZH = {k: v.zh for k, v in KINDS.items()}


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>&~")


def md(text: Any) -> str:
    """Text from a calendar, a contacts file or an error, safe inside Prefect's markdown:
    every markdown and HTML metacharacter escaped, line breaks flattened — a milestone
    titled ``<img src=x onerror=…>`` or ``**[click](http://…)**`` reads as typed."""
    out = []
    for ch in str(text).replace("\r", " ").replace("\n", " "):
        if ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "&":
            out.append("&amp;")
        elif ch in _MD_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def key(*parts: Any) -> str:
    return "-".join(str(p) for p in parts).lower().replace("_", "-")


def status_table(view: YearView) -> list[dict[str, str]]:
    """One row per participant; one column per milestone, "#1", "#2"… (titles in the
    description). Not bare numbers: the UI lists integer-like keys before the others."""
    rows = []
    for pid, name in view.participants:
        row = {"单位": name}
        for i, m in enumerate(view.milestones, start=1):
            c = view.cells.get((pid, m.id))
            row[f"#{i}"] = "" if c is None else LIGHTS[c.light][1]
        rows.append(row)
    return rows


def status_description(view: YearView) -> str:
    legend = " ".join(f"{mark} {label}" for label, mark in LIGHTS.values())
    counts = view.lights()
    lines = [
        f"**{md(view.title)} — {view.year}年** 截至 {minute(view.as_of)}",
        "",
        legend,
        "",
        "逾期未报 **{}** · 临近截止 **{}** · 正常推进 **{}** · 已报送 **{}**（其中逾期报送 {}）".format(
            counts["overdue"], counts["due_soon"], counts["on_track"], counts["on_time"] + counts["late"], counts["late"]
        ),
        "",
        "节点: " + "; ".join(f"#{i} {md(m.title)}（{m.due:%m-%d}）" for i, m in enumerate(view.milestones, start=1)),
    ]
    return "\n".join(lines)


def publish_year(rt: R.Runtime, view: YearView) -> str:
    """Write the HTML report and publish the year's artifacts; returns the report link."""
    path, link = R.report_location(rt, view.programme, view.year)
    web = rt.settings.web_url
    write_year_report(view, path, web)
    board = console_link(web, f"/console/p/{quote(view.programme)}/{view.year}")
    create_table_artifact(
        status_table(view),
        key=key("status", view.programme, view.year),
        description=status_description(view) + (f"\n\n[在工作台中办理]({board})" if board else ""),
    )
    for m in view.milestones:
        if m.is_open:
            page = console_link(web, f"/console/p/{quote(view.programme)}/{view.year}/m/{quote(m.id)}")
            create_progress_artifact(
                m.progress,
                key=key("progress", view.programme, view.year, m.id),
                description=f"{md(m.title)}：已报送 {m.submitted}/{m.assigned - m.exempted}，截止 {m.due:%Y-%m-%d}"
                + (f"（[未报送单位]({page})）" if page else ""),
            )
    create_link_artifact(
        link,
        link_text=f"{md(view.title)} {view.year}年度报告",
        key=key("report", view.programme, view.year),
        description="自包含 HTML 年度报告：甘特图、热力图、目标进度、逾期清单",
    )
    return link


def _reached(t, v: float) -> bool:
    return (t.at_least is None or v >= t.at_least) and (t.at_most is None or v <= t.at_most)


def targets_markdown(view: YearView) -> list[str]:
    lines = ["| 目标 | 当前值 | 按计划此时应达 | 进度 | 要求 | 状态 |", "|---|---|---|---|---|---|"]
    for t in view.rollup.targets:
        want = " ".join(
            x
            for x in (f"≥{t.at_least:g}" if t.at_least is not None else "", f"≤{t.at_most:g}" if t.at_most is not None else "")
            if x
        )
        state = "暂无数据" if t.met is None else ("✅ 已达成" if t.met else "⏳ 未达成")
        value = "—" if t.value is None else f"{t.value:g}{t.unit or ''}"
        if t.by_participant:  # every member must reach it: say how many have
            ok = sum(1 for v in t.by_participant.values() if v is not None and _reached(t, v))
            value = f"{ok}/{len(t.by_participant)} 个单位达标"
        paced = {"ahead": "🟢 超前", "on_pace": "正常", "behind": "🔴 滞后"}.get(t.pace, "—")
        expected = "—" if t.expected is None else f"{t.expected:g}{t.unit or ''}"
        lines.append(f"| {md(t.title)} | {md(value)} | {md(expected)} | {paced} | {md(want + (t.unit or ''))} | {state} |")
    return lines if view.rollup.targets else ["（无量化目标）"]


def retry_note(d: dict[str, Any], instant: dt.datetime) -> str:
    """``（最早一条 5分钟后重试，10:05）`` when this run scheduled retries."""
    if not d.get("next_retry_at"):
        return ""
    first = to_instant(d["next_retry_at"])
    return f"（最早一条{zh_relative(first, instant)}重试，{minute(first)}）"


def next_deadline(view: YearView) -> str:
    """The nearest deadline still owed, how far off, and how many units still owe it."""
    today = local_day(view.as_of)
    for m in sorted(view.milestones, key=lambda m: m.due):
        owing = sum(1 for (_, mid), c in view.cells.items() if mid == m.id and c.light in (ON_TRACK, DUE_SOON))
        if m.due >= today and owing:
            return f"⏭ 下一个截止：{md(m.title)} {zh_date(m.due, view.cal)}，{zh_relative(m.due, view.as_of)}，尚有 {owing} 个单位未报送"
    return "⏭ 本年度已无待报送的截止事项"


def advance_summary(out: dict[str, Any], views: list[tuple[YearView, str]], instant: dt.datetime, web: str | None = None) -> str:
    d = out["dispatch"]
    queued = out["queued"]
    escalations = queued.get("escalation", 0) + queued.get("escalation_item", 0)  # alone, or in a daily digest
    reminders = sum(n for k, n in queued.items() if k not in ("escalation", "escalation_item", "digest"))
    lines = [
        f"## advance 截至 {minute(instant)}",
        "",
        f"- 开启任务 **{out['opened']}**，标记逾期 **{out['overdue']}**",
        f"- 排队提醒 **{reminders}**，上报（escalation）**{escalations}**"
        + ("（" + "，".join(f"{KIND_ZH.get(k, k)} {n}" for k, n in sorted(queued.items())) + "）" if queued else ""),
        f"- 发送成功 **{d['sent']}**，暂时失败待重试 **{d['failed']}**{retry_note(d, instant)}，放弃 **{d['dead']}**，过时跳过 **{d['skipped']}**",
    ]
    if out.get("failures"):
        lines += ["", "### ❌ 未能推进的计划（其余计划已正常推进）", ""]
        if console_link(web, "/"):
            lines += [f"[工作台]({console_link(web, '/console')}) · [投递失败]({console_link(web, '/console/outbox')})", ""]
        lines += [f"- **{md(p)}**：{md(why)}" for p, why in out["failures"].items()]
        lines.append("")
    if out.get("held"):
        lines.append(
            f"- ⏸ 暂缓发送 **{sum(out['held'].values())}**（依赖暂定的工作日安排，导入国务院通知后发送）：{md(', '.join(out['held']))}"
        )
    if out.get("waiting"):
        lines += [f"- ⚠️ 尚未编入台账 {md(w)}：{md(why)}" for w, why in out["waiting"].items()]
    if out.get("compiled"):
        lines.append(f"- 编入台账: {md(', '.join(out['compiled']))}")
    for where, problems in (out.get("fan_out") or {}).get("problems", {}).items():
        lines += [f"- ⚠️ {md(where)}：{md(p)}" for p in problems[:20]]
    if out.get("unreachable"):
        lines.append(f"- ⚠️ 无联系方式、无法送达: {md(', '.join(out['unreachable']))}（请在联系人文件中补充）")
    if out.get("missing_workday_years"):
        lines.append(f"- ⚠️ 缺少工作日数据的年份: {', '.join(map(str, out['missing_workday_years']))}")
    if d["errors"]:
        lines += ["", "### 投递失败", ""] + [f"- {md(e)}" for e in d["errors"][:50]]
        if len(d["errors"]) > 50:
            lines.append(f"- …另有 {len(d['errors']) - 50} 条，见 `yearwheel outbox --state dead --state pending`")
    for view, link in views:
        c = view.lights()
        lines += [
            "",
            f"### {md(view.title)} {view.year}年",
            "",
            f"🔴 逾期未报 {c['overdue']} · 🟡 临近截止 {c['due_soon']} · 🟢 正常推进 {c['on_track']} · ✅ 按时报送 {c['on_time']} · 🟠 逾期报送 {c['late']}",
            "",
            next_deadline(view),
            *(["", f"⚠️ {md(view.workday_warning)}"] if view.workday_warning else []),
            "",
            f"[年度报告（HTML）]({link})"
            + (
                f" · [工作台看板]({board})"
                if (board := console_link(web, f"/console/p/{quote(view.programme)}/{view.year}"))
                else ""
            ),
            "",
            *targets_markdown(view),
        ]
    return "\n".join(lines)


def publish_advance(rt: R.Runtime, out: dict[str, Any], instant: dt.datetime, programme: str | None) -> None:
    """After an advance run: the year artifacts of every programme year it touched, and the summary."""
    years = sorted({(r["programme"], r["year"]) for r in out.get("rollups", [])})
    views = []
    for prog, year in years:
        view = R.year_view(rt, prog, year, instant)
        if view is not None:
            views.append((view, publish_year(rt, view)))
    create_markdown_artifact(
        advance_summary(out, views, instant, rt.settings.web_url),
        key=key("advance", programme or "all"),
        description=f"advance {programme or 'all programmes'} as of {minute(instant)}",
    )


def publish_bulletin(b, docx_path) -> None:
    """The month's bulletin as a markdown artifact (the facts, the late and missing items,
    the units named) with the Word file's location; one key per programme and month."""
    from yearwheel.reports.documents import bulletin_rows

    lines = [f"# {md(b.title)} {b.year}年第{b.month}期", ""]
    lines += [md(p) for p in b.prose()]
    rows = bulletin_rows(b)
    if rows:
        lines += ["", "| 序号 | 单位 | 事项 | 截止日期 | 情况 |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(md(c) for c in r) + " |" for r in rows[:200]]
        if len(rows) > 200:
            lines.append(f"\n……另有 {len(rows) - 200} 项，见 Word 文件")
    lines += ["", f"Word 文件：`{md(docx_path)}`"]
    create_markdown_artifact(
        "\n".join(lines),
        key=key("bulletin", b.programme, b.year, f"{b.month:02d}"),
        description=f"{md(b.title)}（{b.year}年第{b.month}期）",
    )


def publish_evaluation(e) -> None:
    """The year's evaluation as a markdown artifact: each cohort's ranking (ties shared)."""
    from yearwheel.reports.documents import evaluation_header, evaluation_rows

    lines = [f"# {md(e.title)} {e.year}年度考评（截至 {minute(e.as_of)}）"]
    for c in e.cohorts:
        header = evaluation_header(e, c)
        lines += ["", f"## {md(c.title)}", "", "| " + " | ".join(md(h) for h in header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(md(x) for x in row) + " |" for row in evaluation_rows(c)[:300]]
    create_markdown_artifact(
        "\n".join(lines), key=key("evaluation", e.programme, e.year), description=f"{md(e.title)} {e.year}年度考评结果"
    )
