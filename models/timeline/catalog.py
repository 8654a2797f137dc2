"""Where calendars live and how a programme id finds its file.

Layout of a calendar directory::

    calendar/
      <programme-id>.yaml        one programme each (the file is named after the id)
      workdays/cn-<YYYY>.yaml    working-day years the chinese-calendar package lacks
      schema/*.schema.json       generated JSON schemas (``yearwheel schema``)
"""

from __future__ import annotations

from pathlib import Path

_SOURCE_TREE_CALENDARS = Path(__file__).resolve().parents[2] / "calendar"


class UnknownProgramme(LookupError):
    pass


def calendar_dir(explicit: Path | None = None) -> Path:
    """``explicit`` (a command's option, else ``$YEARWHEEL_CALENDAR_DIR`` through the
    settings), else ./calendar, else the source tree's calendar/."""
    if explicit is not None:
        return explicit
    here = Path.cwd() / "calendar"
    if here.is_dir() and any(here.glob("*.yaml")):
        return here
    return _SOURCE_TREE_CALENDARS


def workdays_dir(directory: Path) -> Path:
    return directory / "workdays"


def programme_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def workday_files(directory: Path) -> list[Path]:
    return sorted(workdays_dir(directory).glob("*.yaml"))


def find_programme(directory: Path, programme_id: str) -> Path:
    path = directory / f"{programme_id}.yaml"
    if path.is_file():
        return path
    known = ", ".join(p.stem for p in programme_files(directory)) or "none"
    raise UnknownProgramme(f"no calendar for programme '{programme_id}' in {directory} (known: {known})")
