"""The State Council's yearly holiday notice, read as people copy it from an official site.

《国务院办公厅关于YYYY年部分节假日安排的通知》 lists, per festival, the days off and the
weekend days worked instead (调休). ``read_notice(text)`` turns it into the days a year
file (``calendar/workdays/cn-YYYY.yaml``) holds, and refuses — pointing at the line and
the sentence — whatever the notice says twice in ways that disagree: a stated length
("共8天") that is not the length of the dates listed, a working day (上班) that is not a
weekend day, a weekday in brackets that is not that date's weekday, a break with a
working day inside it, a date in another year (except a New Year break that starts in the
December before), a festival listed twice.

Pure text in, data out: no files, no clock. Wording it accepts, as the notices since 2015
write it: full-width or half-width punctuation and digits; ``（星期四）`` or ``（周四）`` or
``（农历除夕、周二）`` after a date; "至3日" or "至2月4日" or "至2019年1月1日" ending a range;
"放假调休，共N天", "放假，共N天", "放假N天，不调休", "放假，与周末连休", "X月X日（星期一）补休",
"X月X日（星期日）、Y月Y日（星期六）上班"; an item naming two festivals ("中秋节、国庆节");
advice that moves no day ("鼓励各单位……安排职工在除夕（2月9日）休息") is noted and skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field

from .workdays import exceptions_from
from .zhdate import weekday, zh_date

FESTIVALS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
WEEKDAY_CHARS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}

TITLE = re.compile(r"国务院办公厅关于(\d{4})年部分节假日安排的通知")
STATED_YEAR = re.compile(r"现将(\d{4})年.{0,60}?安排通知如下")
NUMBER = re.compile(r"国办发(?:明电)?\s*[〔\[(]\s*(\d{4})\s*[〕\])]\s*(\d+)\s*号")
SIGNED = re.compile(r"^\s*(\d{4})年(\d{1,2})月(\d{1,2})日\s*$")
SIGNED_INLINE = re.compile(r"国务院办公厅(\d{4})年(\d{1,2})月(\d{1,2})日$")
ITEM_START = re.compile(r"(?<=。)(?=[一二三四五六七八九十]、(?:元旦|春节|清明节|劳动节|端午节|中秋节|国庆节))")
ITEM = re.compile(r"^\s*([一二三四五六七八九十]+)、\s*([^:：。]{2,20}?)\s*[:：]")
# a date: [YYYY年][M月]D日, then perhaps a bracket with the weekday (and the lunar day)
DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日(?:\s*\(([^()]*)\))?")
COUNT = re.compile(r"共\s*(\d+)\s*天|放假\s*(\d+)\s*天")
WEEKDAY_IN_BRACKET = re.compile(r"(?:星期|礼拜|周)([一二三四五六日天])")


class NoticeInvalid(ValueError):
    """The notice cannot be read, or contradicts itself; ``problems`` say where."""

    def __init__(self, problems: list[NoticeProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class NoticeProblem:
    line: int  # 1-based, in the text as given
    sentence: str
    message: str

    def __str__(self) -> str:
        return f"第{self.line}行：{self.message}\n    “{self.sentence}”"


@dataclass(frozen=True)
class Break:
    """One festival's days off, as the notice lists them (first..last, every day rest)."""

    name: str
    first: dt.date
    last: dt.date
    line: int

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(n) for n in range((self.last - self.first).days + 1)]


@dataclass
class Notice:
    year: int
    title: str
    number: str | None  # 国办发明电〔2023〕7号
    published: dt.date | None  # the date it was signed
    breaks: list[Break] = field(default_factory=list)
    workdays: list[dt.date] = field(default_factory=list)  # weekend days worked (调休上班)
    skipped: list[str] = field(default_factory=list)  # advice that moves no day, as written
    notes: list[str] = field(default_factory=list)  # what the reader had to decide (e.g. no title)

    @property
    def source(self) -> str:
        """The notice as a year file's ``source`` names it: title, number and date."""
        extra = [x for x in (self.number, f"{self.published:%Y年%-m月%-d日}" if self.published else None) if x]
        return self.title + (f"（{'，'.join(extra)}）" if extra else "")

    def rest_days(self) -> set[dt.date]:
        return {d for b in self.breaks for d in b.days()}

    def in_year(self) -> tuple[list[Break], list[dt.date]]:
        """The breaks and working days inside the notice's year (a break starting in the
        December before is cut at January 1st)."""
        start = dt.date(self.year, 1, 1)
        breaks = [
            Break(b.name, max(b.first, start), b.last, b.line)
            for b in self.breaks
            if b.last >= start and b.first.year <= self.year
        ]
        return breaks, [d for d in self.workdays if d.year == self.year]

    def flips(self, year: int | None = None) -> frozenset[dt.date]:
        return exceptions_from(self.rest_days(), self.workdays, self.year if year is None else year)

    def spill(self) -> tuple[list[dt.date], list[dt.date]]:
        """(rest days, working days) the notice sets in the year before its own — they belong
        to that year's data, which must already agree."""
        return sorted(d for d in self.rest_days() if d.year < self.year), sorted(d for d in self.workdays if d.year < self.year)


def year_file_text(notice: Notice) -> str:
    """The notice as ``calendar/workdays/cn-YYYY.yaml`` (only its own year's days)."""
    breaks, work = notice.in_year()

    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    lines = [
        f"# {notice.year}年工作日安排，由 yearwheel workdays import 从国务院办公厅通知生成；修改请重新导入通知。",
        "version: 1",
        f"year: {notice.year}",
        f"source: {q(notice.source)}",
        "holidays:                     # every rest day of each break, first..last inclusive",
        *(f"  - {{name: {q(b.name)}, first: {b.first.isoformat()}, last: {b.last.isoformat()}}}" for b in breaks),
        "adjusted_workdays:            # weekend days that are working days (调休上班)" + ("" if work else " []"),
        *(f"  - {d.isoformat()}  # {weekday(d)}" for d in work),
    ]
    return "\n".join(lines) + "\n"


def _normalise(line: str) -> str:
    """Full-width digits, brackets, colons and commas to their ASCII forms; no spaces."""
    text = unicodedata.normalize("NFKC", line)
    return re.sub(r"\s+", "", text).replace("，", ",").replace("；", ";")


class _Reader:
    def __init__(self, text: str):
        self.raw = text.splitlines()
        # one segment per item even when a copy lost its line breaks ("…上班。二、春节：…")
        self.lines: list[str] = []
        self.seg_line: list[int] = []  # segment → 0-based line of the text as given
        for i, line in enumerate(self.raw):
            for part in ITEM_START.split(_normalise(line)):
                if part or not self.lines or self.seg_line[-1] != i:
                    self.lines.append(part)
                    self.seg_line.append(i)
        self.problems: list[NoticeProblem] = []
        self.notes: list[str] = []

    def problem(self, line: int, sentence: str, message: str) -> None:
        self.problems.append(NoticeProblem(line, sentence.strip()[:200], message))

    def read(self) -> Notice:
        # the title may be broken over two lines ("国务院办公厅关于2024年" / "部分节假日安排的通知")
        joined = "".join(self.lines)
        starts, offset = [], 0
        for line in self.lines:
            starts.append(offset)
            offset += len(line)

        def line_of(pos: int) -> int:  # 0-based index of the line holding joined[pos]
            return max((i for i, start in enumerate(starts) if start <= pos), default=0)

        m = TITLE.search(joined)
        if m is not None:
            year, title, title_at = int(m.group(1)), m.group(0), line_of(m.end() - 1)
        else:
            # some copies drop the title; the first sentence still names the year
            stated = STATED_YEAR.search(joined)
            if stated is None:
                first = (self.raw[0] if self.raw else "").strip()[:200]
                message = "找不到通知标题“国务院办公厅关于YYYY年部分节假日安排的通知”，正文也没有“现将YYYY年……安排通知如下”"
                raise NoticeInvalid([NoticeProblem(1, first, message)])
            year, title_at = int(stated.group(1)), line_of(stated.start())
            title = f"国务院办公厅关于{year}年部分节假日安排的通知"
            self.notes.append(f"通知文本中没有标题，年份按第{self.seg_line[title_at] + 1}行“现将{year}年……”确定")
        number = next((f"国办发明电〔{k.group(1)}〕{k.group(2)}号" for line in self.lines if (k := NUMBER.search(line))), None)
        published = None
        for i in range(len(self.lines) - 1, title_at, -1):
            if s := SIGNED.match(self.lines[i]):
                try:
                    published = dt.date(int(s.group(1)), int(s.group(2)), int(s.group(3)))
                except ValueError:
                    self.problem(self.seg_line[i] + 1, self.raw[self.seg_line[i]], "落款日期不是有效日期")
                break
        if published is None and (end := SIGNED_INLINE.search(joined[-40:])):
            try:
                published = dt.date(int(end.group(1)), int(end.group(2)), int(end.group(3)))
            except ValueError:
                published = None
        notice = Notice(year=year, title=title, number=number, published=published, notes=list(self.notes))
        seen: dict[str, int] = {}
        for i in range(title_at + 1, len(self.lines)):
            item = ITEM.match(self.lines[i])
            if item is None:
                continue
            names = [n for n in re.split(r"[、,和与及]", item.group(2)) if n]
            unknown = [n for n in names if n not in FESTIVALS]
            if unknown:
                self.problem(
                    self.seg_line[i] + 1,
                    self.raw[self.seg_line[i]],
                    f"不认识的节日“{'、'.join(unknown)}”（应为{'、'.join(FESTIVALS)}之一）",
                )
                continue
            for n in names:
                if n in seen:
                    self.problem(
                        self.seg_line[i] + 1, self.raw[self.seg_line[i]], f"{n}已在第{seen[n]}行列出：同一节日不能安排两次"
                    )
                seen.setdefault(n, self.seg_line[i] + 1)
            self.item(notice, "、".join(names), i, self.lines[i][item.end() :])
        if not seen and not self.problems:
            self.problem(
                self.seg_line[title_at] + 1,
                self.raw[self.seg_line[title_at]],
                "通知中没有找到任何节日安排（如“一、元旦：1月1日放假……”）",
            )
        self.whole(notice)
        if self.problems:
            raise NoticeInvalid(self.problems)
        notice.breaks.sort(key=lambda b: b.first)
        notice.workdays.sort()
        return notice

    # ---------------------------------------------------------------- one festival's item

    def dates(self, text: str, line: int, sentence: str, year: int, month: int | None) -> list[dt.date] | None:
        """Every date in ``text``; a missing month or year is the previous date's (or the
        notice's year). Checks the weekday in brackets."""
        out: list[dt.date] = []
        cur_year, cur_month = year, month
        for m in DATE.finditer(text):
            y = int(m.group(1)) if m.group(1) else cur_year
            mo = int(m.group(2)) if m.group(2) else cur_month
            if mo is None:
                self.problem(line, sentence, f"“{m.group(0)}”没有写月份")
                return None
            try:
                d = dt.date(y, mo, int(m.group(3)))
            except ValueError:
                self.problem(line, sentence, f"“{m.group(0)}”不是有效日期")
                return None
            bracket = m.group(4) or ""
            wd = WEEKDAY_IN_BRACKET.search(bracket)
            if wd and WEEKDAY_CHARS[wd.group(1)] != d.weekday():
                self.problem(line, sentence, f"{d.month}月{d.day}日是{weekday(d)}，通知写的是“{wd.group(0)}”")
            cur_year, cur_month = y, mo
            out.append(d)
        return out

    def item(self, notice: Notice, name: str, index: int, body: str) -> None:
        line = self.seg_line[index] + 1
        shared = self.seg_line.count(self.seg_line[index]) > 1  # a copy without line breaks: quote the item itself
        raw = self.lines[index] if shared else self.raw[self.seg_line[index]]
        rest: list[dt.date] = []
        work: list[dt.date] = []
        stated: int | None = None
        for sentence in filter(None, body.split("。")):
            if "国务院办公厅" in sentence or sentence.startswith("节假日期间"):
                break  # the closing paragraph and the signature, in a copy without line breaks
            if "鼓励" in sentence or "倡导" in sentence:  # advice: moves no day
                notice.skipped.append(sentence)
                continue
            for clause in filter(None, re.split(r"[,;]", sentence)):
                # a date without its year or month takes them from the date before it
                before = (rest + work)[-1] if rest or work else None
                m_year = before.year if before else notice.year
                m_month = before.month if before else None
                if "放假" in clause:
                    head = clause.split("放假", 1)[0]
                    found = self.dates(head, line, raw, m_year, None)
                    if found is None:
                        return
                    if "至" in head and len(found) == 2:
                        first, last_day = found
                        if last_day < first:
                            self.problem(line, raw, f"假期结束日{zh_date(last_day)}早于开始日{zh_date(first)}")
                            return
                        rest += [first + dt.timedelta(n) for n in range((last_day - first).days + 1)]
                    elif len(found) == 1 and "至" not in head:
                        rest += found
                    elif found:
                        self.problem(line, raw, "看不懂这段放假日期：应为“X月X日放假”或“X月X日至Y日放假”")
                        return
                    count = COUNT.search(clause)
                    if count:
                        stated = int(count.group(1) or count.group(2))
                elif "补休" in clause:
                    found = self.dates(clause, line, raw, m_year, m_month)
                    if not found:
                        self.problem(line, raw, "“补休”前没有日期")
                        return
                    rest += found
                elif "上班" in clause:
                    found = self.dates(clause, line, raw, m_year, m_month)
                    if not found:
                        self.problem(line, raw, "“上班”前没有日期")
                        return
                    work += found
                elif count := COUNT.search(clause):
                    stated = int(count.group(1) or count.group(2))
                elif DATE.search(clause):
                    self.problem(line, raw, f"这句话里有日期，但既不是放假、补休，也不是上班：“{clause}”")
                    return
                # "与周末连休", "不调休", "调休": words that move no day
        if not rest:
            self.problem(line, raw, f"{name}没有放假日期")
            return
        days = sorted(set(rest))
        if stated is not None and stated != len(days):
            self.problem(
                line, raw, f"写明“共{stated}天”，但列出的放假日期是 {len(days)} 天（{zh_date(days[0])}至{zh_date(days[-1])}）"
            )
        span = [days[0] + dt.timedelta(n) for n in range((days[-1] - days[0]).days + 1)]
        gaps = [d for d in span if d not in days and d.weekday() < 5]
        if gaps:
            self.problem(line, raw, f"假期不连续：{'、'.join(zh_date(d) for d in gaps)}夹在假期中间却不放假")
        for d in days:
            if d.year != notice.year and not (name.startswith("元旦") and d.year == notice.year - 1 and d.month == 12):
                self.problem(line, raw, f"{zh_date(d)}不在{notice.year}年（通知标题的年份）")
                return
        for d in work:
            if d.weekday() < 5:
                self.problem(line, raw, f"{zh_date(d)}本来就是工作日：调休上班只能是周六或周日")
            if d.year != notice.year and not (name.startswith("元旦") and d.year == notice.year - 1 and d.month == 12):
                self.problem(line, raw, f"{zh_date(d)}不在{notice.year}年（通知标题的年份）")
            if days[0] <= d <= days[-1]:
                self.problem(line, raw, f"{zh_date(d)}在{name}假期之中，却又写着上班")
        notice.breaks.append(Break(name, days[0], days[-1], line))
        notice.workdays += work

    # ---------------------------------------------------------------- the notice as a whole

    def whole(self, notice: Notice) -> None:
        by_day: dict[dt.date, Break] = {}
        for b in notice.breaks:
            for d in b.days():
                if d in by_day:
                    other = by_day[d]
                    self.problem(
                        b.line, self.raw[b.line - 1], f"{zh_date(d)}同时在{other.name}（第{other.line}行）和{b.name}的假期里"
                    )
                by_day[d] = b
        for d in sorted(set(notice.workdays)):
            if d in by_day:
                b = by_day[d]
                self.problem(b.line, self.raw[b.line - 1], f"{zh_date(d)}既在{b.name}假期里，又被安排上班")


def read_notice(text: str) -> Notice:
    """The notice's days, or :class:`NoticeInvalid` listing every problem with its line."""
    return _Reader(text).read()
