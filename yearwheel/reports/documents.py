"""Documents people circulate: the monthly bulletin (月度通报) and the annual evaluation
(考评结果) as Word files, the evaluation as an Excel workbook, and both as HTML (the
console, a Prefect artifact, an e-mail).

Word files follow the look of a Chinese official document (GB/T 9704): A4, margins
37/35/28/26 mm, the title in 方正小标宋简体 二号, headings in 黑体 三号, body text in
仿宋_GB2312 三号, page numbers "— 1 —" at the foot. The styles carry those names
(公文标题, 一级标题, 公文正文, 表格文字) so a Word user recognises and can restyle them;
where the fonts are not installed Word and LibreOffice substitute a CJK font.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models.bulletin import LATE, MISSING, STANDING_ZH, MonthBulletin
from models.evaluation import Evaluation
from models.timeline import TZ
from models.timeline.zhdate import zh_date

from ..files import write_atomic

FONT_TITLE, FONT_HEADING, FONT_BODY = "方正小标宋简体", "黑体", "仿宋_GB2312"
STYLE_TITLE, STYLE_HEADING, STYLE_BODY, STYLE_TABLE = "公文标题", "一级标题", "公文正文", "表格文字"
DOC_NUMBER_PLACEHOLDER = "〔    〕    号"

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(zip=zip, local=lambda t: t.astimezone(TZ))


def _pace_zh(pace: str | None) -> str:
    return {"ahead": "超前", "on_pace": "正常", "behind": "滞后", None: "—"}[pace]


def _fmt(v: float | None, unit: str | None = None) -> str:
    if v is None:
        return "—"
    text = f"{v:g}" if float(v).is_integer() else f"{v:.2f}"
    return text + (unit or "")


def bulletin_rows(b: MonthBulletin) -> list[list[str]]:
    """The table of late and missing items: 序号, 单位, 事项, 截止日期, 情况."""
    rows = []
    for n, i in enumerate(b.flagged, 1):
        if i.standing == LATE:
            what = f"逾期{i.days_late}个工作日报送" if i.days_late else "逾期报送（休息日送达）"
        elif i.standing == MISSING:
            what = f"未报送（已逾期{i.days_late}个工作日）"
        else:
            what = STANDING_ZH[i.standing]
        rows.append([str(n), i.name, i.title, zh_date(i.due, long=False), what])
    return rows


def target_rows(b: MonthBulletin) -> list[list[str]]:
    return [[t.title, _fmt(t.value, t.unit), _fmt(t.expected, t.unit), _pace_zh(t.pace)] for t in b.targets]


def evaluation_header(e: Evaluation, cohort) -> list[str]:
    return ["排名", "单位"] + [f"{label}（权重{w:g}）" for _, label, w in cohort.indicators] + ["总分"]


def evaluation_rows(cohort) -> list[list[str]]:
    rows = []
    for r in cohort.rows:
        cells = [("并列" if r.tied else "") + (str(r.rank) if r.rank else "—"), r.name]
        by_id = {s.indicator: s for s in r.scores}
        for ind_id, _, _ in cohort.indicators:
            s = by_id.get(ind_id)
            cells.append("不计" if s is None or s.score is None else f"{s.score:g}")
        cells.append("—" if r.total is None else f"{r.total:g}")
        rows.append(cells)
    return rows


# --------------------------------------------------------------------------- Word


def _styled_document(*, landscape: bool = False) -> Any:
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin = Mm(37), Mm(35), Mm(28), Mm(26)
    if landscape:  # a wide table (the evaluation's indicators): A4 turned, the margins with it
        from docx.enum.section import WD_ORIENT

        sec.orientation = WD_ORIENT.LANDSCAPE
        sec.page_width, sec.page_height = Mm(297), Mm(210)
        sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin = Mm(28), Mm(26), Mm(37), Mm(35)

    def font(style, name: str, size: float, bold: bool = False) -> None:
        style.font.name = name
        style.font.size = Pt(size)
        style.font.bold = bold
        rpr = style.element.get_or_add_rPr()
        rfonts = rpr.find(qn("w:rFonts"))
        if rfonts is None:
            rfonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(rfonts)
        for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
            rfonts.set(qn(attr), name)

    font(doc.styles["Normal"], FONT_BODY, 16)
    for name, face, size, bold, align in (
        (STYLE_TITLE, FONT_TITLE, 22, False, WD_ALIGN_PARAGRAPH.CENTER),
        (STYLE_HEADING, FONT_HEADING, 16, False, None),
        (STYLE_BODY, FONT_BODY, 16, False, WD_ALIGN_PARAGRAPH.JUSTIFY),
        (STYLE_TABLE, FONT_BODY, 10.5, False, None),
    ):
        st = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        st.base_style = doc.styles["Normal"]
        font(st, face, size, bold)
        pf = st.paragraph_format
        if align is not None:
            pf.alignment = align
        if name == STYLE_BODY:
            pf.first_line_indent = Pt(32)  # two characters
            pf.line_spacing = Pt(28)
        elif name == STYLE_TITLE:
            pf.space_after = Pt(12)
        elif name == STYLE_HEADING:
            pf.space_before, pf.space_after = Pt(8), Pt(4)
    # the page number at the foot: — PAGE —
    footer = sec.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("— ")
    run = footer.add_run()
    for tag, attrs in (
        ("w:fldChar", {qn("w:fldCharType"): "begin"}),
        ("w:instrText", {}),
        ("w:fldChar", {qn("w:fldCharType"): "end"}),
    ):
        el = run.element.makeelement(qn(tag), attrs)
        if tag == "w:instrText":
            el.set(qn("xml:space"), "preserve")
            el.text = " PAGE "
        run.element.append(el)
    footer.add_run(" —")
    return doc


def _table(doc: Any, header: list[str], rows: list[list[str]], widths_mm: list[float] | None = None) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm

    t = doc.add_table(rows=1, cols=len(header))
    t.style = doc.styles["Table Grid"]
    style = doc.styles[STYLE_TABLE]  # looked up once: a lookup by name walks every style
    for cell, text in zip(t.rows[0].cells, header, strict=True):
        cell.text = ""
        cell.paragraphs[0].style = style
        cell.paragraphs[0].add_run(text).bold = True
    # the header row repeats on every page
    tr_pr = t.rows[0]._tr.get_or_add_trPr()  # noqa: SLF001 — python-docx has no API for a repeated header row
    rep = OxmlElement("w:tblHeader")
    rep.set(qn("w:val"), "true")
    tr_pr.append(rep)
    for row in rows:
        cells = t.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = ""
            cell.paragraphs[0].style = style
            cell.paragraphs[0].add_run(text)
    if widths_mm:
        t.autofit = False
        for col, w in zip(t.columns, widths_mm, strict=True):
            col.width = Mm(w)  # the grid LibreOffice lays out by
        for row in t.rows:
            for cell, w in zip(row.cells, widths_mm, strict=True):
                cell.width = Mm(w)


def _save(doc: Any, path: Path) -> None:
    import io

    buf = io.BytesIO()
    doc.save(buf)
    write_atomic(path, buf.getvalue())


def write_bulletin_docx(b: MonthBulletin, path: Path) -> None:
    doc = _styled_document()
    doc.add_paragraph(b.title, style=STYLE_TITLE)
    doc.add_paragraph(f"{b.year}年第{b.month}期", style=STYLE_TITLE).runs[0].font.size = None
    p = doc.add_paragraph(f"文号：{DOC_NUMBER_PLACEHOLDER}", style=STYLE_TABLE)
    p.alignment = 1
    doc.add_paragraph("一、总体情况", style=STYLE_HEADING)
    for para in b.prose():
        doc.add_paragraph(para, style=STYLE_BODY)
    doc.add_paragraph("二、逾期及未报送事项", style=STYLE_HEADING)
    rows = bulletin_rows(b)
    if rows:
        _table(doc, ["序号", "单位", "事项", "截止日期", "情况"], rows, [12, 38, 58, 28, 20])
    else:
        doc.add_paragraph("本月无逾期或未报送事项。", style=STYLE_BODY)
    doc.add_paragraph(f"三、连续{b.months_running}个月逾期的单位", style=STYLE_HEADING)
    doc.add_paragraph("、".join(n for _, n in b.running) + "。" if b.running else "无。", style=STYLE_BODY)
    doc.add_paragraph("四、目标进度", style=STYLE_HEADING)
    if b.targets:
        _table(doc, ["目标", "已完成", "按进度应完成", "进度"], target_rows(b), [76, 28, 28, 24])
    else:
        doc.add_paragraph("本计划未设定量化目标。", style=STYLE_BODY)
    cut = b.cutoff.astimezone(TZ)
    doc.add_paragraph(f"（数据截至{cut.year}年{cut.month}月{cut.day}日，由工作台账自动生成，可逐项追溯。）", style=STYLE_BODY)
    _save(doc, path)


def write_evaluation_docx(e: Evaluation, path: Path) -> None:
    doc = _styled_document(landscape=True)
    doc.add_paragraph(f"{e.title}{e.year}年度考评结果", style=STYLE_TITLE)
    p = doc.add_paragraph(f"文号：{DOC_NUMBER_PLACEHOLDER}", style=STYLE_TABLE)
    p.alignment = 1
    numerals = "一二三四五六七八九十"
    for n, c in enumerate(e.cohorts):
        doc.add_paragraph(f"{numerals[n] if n < 10 else n + 1}、{c.title}", style=STYLE_HEADING)
        n = len(c.indicators)
        usable = 297 - 37 - 35
        _table(doc, evaluation_header(e, c), evaluation_rows(c), [17, 48] + [(usable - 17 - 48 - 18) / max(n, 1)] * n + [18])
    doc.add_paragraph("附：评分依据", style=STYLE_HEADING)
    for c in e.cohorts:
        for r in c.rows:
            doc.add_paragraph(f"{r.name}（{c.title}，{r.rank_text}，总分{_fmt(r.total)}）", style=STYLE_TABLE).runs[0].bold = True
            for s in r.scores:
                doc.add_paragraph(f"{s.label}：{s.explanation}", style=STYLE_TABLE)
    cut = e.as_of.astimezone(TZ)
    doc.add_paragraph(f"（数据截至{cut.year}年{cut.month}月{cut.day}日，由工作台账自动生成。）", style=STYLE_BODY)
    _save(doc, path)


# --------------------------------------------------------------------------- Excel


def write_evaluation_xlsx(e: Evaluation, path: Path) -> None:
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for c in e.cohorts:
        ws = wb.create_sheet(c.title[:31].translate(str.maketrans("[]:*?/\\", "（）：＊？／＼")))
        ws.append([f"{e.title}{e.year}年度考评结果 — {c.title}"])
        ws.append(evaluation_header(e, c))
        for cell in ws[2]:
            cell.font = bold
        for r in c.rows:
            # numbers as numbers, so that the table sorts and sums
            by_id = {s.indicator: s for s in r.scores}
            values: list[Any] = [r.rank, r.name]
            values += [by_id[i].score if i in by_id else None for i, _, _ in c.indicators]
            values.append(r.total)
            ws.append(values)
            if r.tied:
                ws.cell(ws.max_row, 1).number_format = '"并列"0'
        ws.column_dimensions["B"].width = 28
    ws = wb.create_sheet("评分依据")
    ws.append(["组别", "单位", "指标", "权重", "原始值", "得分", "计算说明", "台账记录"])
    for cell in ws[1]:
        cell.font = bold
    for c in e.cohorts:
        for r in c.rows:
            for s in r.scores:
                refs = ", ".join(
                    f"task {x['task_id']}"
                    if "task_id" in x
                    else f"submission {x['submission_id']}"
                    if "submission_id" in x
                    else f"rating {x['rating_id']}"
                    for x in s.evidence
                )
                ws.append([c.title, r.name, s.label, s.weight, s.value, s.score, s.explanation, refs])
                ws.cell(ws.max_row, 7).alignment = Alignment(wrap_text=True)
    ws.column_dimensions["G"].width = 60
    buf = io.BytesIO()
    wb.save(buf)
    write_atomic(path, buf.getvalue())


# --------------------------------------------------------------------------- HTML


def bulletin_html(b: MonthBulletin, *, fragment: bool = False) -> str:
    return _env.get_template("bulletin.html.j2").render(
        b=b, rows=bulletin_rows(b), targets=target_rows(b), fragment=fragment, doc_number=DOC_NUMBER_PLACEHOLDER
    )


def evaluation_html(e: Evaluation, *, fragment: bool = False, link=None) -> str:
    cohorts = [(c, evaluation_header(e, c), evaluation_rows(c)) for c in e.cohorts]
    return _env.get_template("evaluation.html.j2").render(e=e, cohorts=cohorts, fragment=fragment, link=link)


def write_html(text: str, path: Path) -> None:
    write_atomic(path, text.encode())
