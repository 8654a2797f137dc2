"""Calendar spec, its loader and checks, working days, and the year planner."""

from .checks import check_programme
from .clock import TZ, InstantInvalid, local_day, minute, now, span, to_instant
from .loader import CalendarInvalid, Problem, load_programme_file, load_workdays_file
from .plan import PlanInconsistent, PlannedMilestone, YearNotInProgramme, YearPlan, plan_year
from .spec import ProgrammeFile, WorkdaysFile
from .workdays import MissingWorkdayData, WorkdayCalendar

__all__ = [
    "TZ",
    "InstantInvalid",
    "CalendarInvalid",
    "MissingWorkdayData",
    "PlanInconsistent",
    "PlannedMilestone",
    "Problem",
    "ProgrammeFile",
    "WorkdayCalendar",
    "WorkdaysFile",
    "YearNotInProgramme",
    "YearPlan",
    "check_programme",
    "load_programme_file",
    "load_workdays_file",
    "local_day",
    "minute",
    "now",
    "span",
    "to_instant",
    "plan_year",
]
