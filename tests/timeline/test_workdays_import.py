"""``yearwheel workdays import``: a notice becomes calendar/workdays/cn-YYYY.yaml, and
nothing goes wrong silently — a notice that contradicts itself, or one that disagrees with
the data in force, writes nothing unless told to."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from models.timeline import WorkdayCalendar
from tests.timeline.test_notice import NOTICES, text

# Not the real 2027 notice (not published when this was written): a made-up one, in the
# notices' wording, whose weekdays are right, for a year no data covers.
NOTICE_2027 = """国务院办公厅关于2027年部分节假日安排的通知
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
经国务院批准，现将2027年元旦、春节放假调休日期的具体安排通知如下。
一、元旦：1月1日（周五）至3日（周日）放假，共3天。
二、春节：2月5日（周五）至12日（周五）放假调休，共8天。2月14日（周日）、2月20日（周六）上班。
国务院办公厅
2026年11月20日
"""


def test_a_year_without_data_is_imported_and_then_planned(cli, tmp_path):
    folder = tmp_path / "workdays"
    notice = tmp_path / "notice-2027.txt"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    assert not WorkdayCalendar.from_directory(folder).covers(2027)
    r = cli("workdays", "import", notice, "--check", "--dir", folder)
    assert r.exit_code == 0 and "2027年还没有数据" in r.stdout and not folder.exists()  # --check writes nothing
    r = cli("workdays", "import", notice, "--dir", folder)
    assert r.exit_code == 0, r.stderr
    assert "2 个假期、2 个调休上班日" in r.stdout and f"wrote {folder / 'cn-2027.yaml'}" in r.stdout
    cal = WorkdayCalendar.from_directory(folder)
    assert cal.covers(2027) and cal.source(2027) == "国务院办公厅关于2027年部分节假日安排的通知（2026年11月20日）"
    assert not cal.is_workday(dt.date(2027, 2, 8)) and cal.is_workday(dt.date(2027, 2, 14))
    assert cal.day_note(dt.date(2027, 2, 14)) == "调休上班"
    # importing it again changes nothing
    before = (folder / "cn-2027.yaml").read_bytes()
    r = cli("workdays", "import", notice, "--dir", folder)
    assert r.exit_code == 0 and "已与通知一致，未改动" in r.stdout and (folder / "cn-2027.yaml").read_bytes() == before


def test_standard_input_and_a_notice_saved_as_gb18030(cli, tmp_path):
    from typer.testing import CliRunner

    from yearwheel.cli import build_app

    folder = tmp_path / "workdays"
    saved = tmp_path / "notice.txt"
    saved.write_bytes(NOTICE_2027.encode("gb18030"))  # as Notepad on a Chinese Windows saves it
    assert cli("workdays", "import", saved, "--dir", folder).exit_code == 0
    (folder / "cn-2027.yaml").unlink()
    r = CliRunner().invoke(build_app(), ["workdays", "import", "-", "--dir", str(folder)], input=NOTICE_2027.encode("utf-8"))
    assert r.exit_code == 0 and (folder / "cn-2027.yaml").exists()


def test_a_contradicting_notice_writes_nothing_and_points_at_the_line(cli, tmp_path):
    folder = tmp_path / "workdays"
    notice = tmp_path / "notice.txt"
    notice.write_text(NOTICE_2027.replace("共8天", "共7天"), encoding="utf-8")
    r = cli("workdays", "import", notice, "--dir", folder)
    assert r.exit_code == 1 and not folder.exists()
    assert f"{notice}:5: 写明“共7天”，但列出的放假日期是 8 天" in r.stderr
    assert "未写入任何文件" in r.stderr


def test_a_notice_that_differs_from_the_data_in_force_is_shown_and_needs_replace(cli, tmp_path):
    """The 2020 yearly notice against the package, which also holds the Spring Festival
    extension announced later: the import shows both days and writes only with --replace."""
    folder = tmp_path / "workdays"
    notice = NOTICES / "2020.txt"
    r = cli("workdays", "import", notice, "--check", "--dir", folder)
    assert r.exit_code == 1
    assert "2020-01-31（星期五）：通知为上班，现有数据为休息" in r.stderr
    assert "2020-02-01（星期六）：通知为上班，现有数据为休息" in r.stderr
    r = cli("workdays", "import", notice, "--dir", folder)
    assert r.exit_code == 1 and "用 --replace 以通知为准替换" in r.stderr and not (folder / "cn-2020.yaml").exists()
    r = cli("workdays", "import", notice, "--dir", folder, "--replace")
    assert r.exit_code == 0 and (folder / "cn-2020.yaml").exists()
    assert WorkdayCalendar.from_directory(folder).is_workday(dt.date(2020, 2, 1))  # the file now rules 2020


def test_a_corrected_year_file_is_replaced_only_when_asked(cli, tmp_path):
    folder = tmp_path / "workdays"
    notice = tmp_path / "notice.txt"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    assert cli("workdays", "import", notice, "--dir", folder).exit_code == 0
    corrected = tmp_path / "corrected.txt"  # a later notice moves the second 上班 day
    corrected.write_text(NOTICE_2027.replace("2月20日（周六）", "2月13日（周六）"), encoding="utf-8")
    r = cli("workdays", "import", corrected, "--dir", folder)
    assert r.exit_code == 1
    assert "2027-02-13（星期六）：通知为上班，现有数据为休息" in r.stderr
    assert "2027-02-20（星期六）：通知为休息，现有数据为上班" in r.stderr
    assert WorkdayCalendar.from_directory(folder).is_workday(dt.date(2027, 2, 20))  # unchanged
    assert cli("workdays", "import", corrected, "--dir", folder, "--replace").exit_code == 0
    assert WorkdayCalendar.from_directory(folder).is_workday(dt.date(2027, 2, 13))


def test_days_set_in_the_year_before_must_agree_with_that_year(cli, tmp_path):
    """The 2019 notice sets 2018-12-29 as a working day: with the package's 2018 it agrees;
    with a 2018 file that says otherwise, nothing is written and the file to fix is named."""
    folder = tmp_path / "workdays"
    r = cli("workdays", "import", NOTICES / "2019.txt", "--check", "--dir", folder)
    assert r.exit_code == 1  # the package also has the later Labour Day change of 2019
    assert "与2018年的数据一致" in r.stdout
    folder.mkdir()
    out = tmp_path / "n2018.txt"
    shutil.copy(NOTICES / "2018.txt", out)
    assert cli("workdays", "import", out, "--dir", folder, "--replace").exit_code == 0  # 2018 from its own notice only
    r = cli("workdays", "import", NOTICES / "2019.txt", "--dir", folder, "--replace")
    assert r.exit_code == 1 and not (folder / "cn-2019.yaml").exists()
    assert "2018-12-29（星期六）：通知为上班，2018年的数据为休息（请在 cn-2018.yaml 中改正）" in r.stderr


def test_the_written_file_passes_validate(cli, tmp_path):
    shutil.copytree(Path(__file__).parents[2] / "calendar", tmp_path / "calendar", ignore=shutil.ignore_patterns("cn-*.yaml"))
    notice = tmp_path / "notice.txt"
    notice.write_text(text(2026), encoding="utf-8")
    assert cli("workdays", "import", notice, "--calendar-dir", tmp_path / "calendar").exit_code == 0
    assert (tmp_path / "calendar" / "workdays" / "cn-2026.yaml").exists()
    r = cli("validate", "--calendar-dir", tmp_path / "calendar")
    assert r.exit_code == 0, r.stdout + r.stderr
