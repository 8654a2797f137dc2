"""Target pacing, hand-computed."""

from __future__ import annotations

import datetime as dt

import pytest

from models.pacing import Window, along_path, pace

D = dt.date
YEAR_2023 = Window(D(2023, 1, 1), D(2023, 12, 31))  # 365 days
# Jilin's programme window: in force 2022-05-26, deadline 2024-12-31.
# 2022: May 26–31 (6) + Jun–Dec (30+31+31+30+31+30+31 = 214) = 220 days; 2023: 365; 2024: 366 → 951 days.
JILIN = Window(D(2022, 5, 26), D(2024, 12, 31))


def test_window_fractions():
    assert YEAR_2023.fraction(D(2022, 12, 31)) == 0
    assert YEAR_2023.fraction(D(2023, 1, 1)) == 1 / 365
    assert YEAR_2023.fraction(D(2023, 7, 2)) == 183 / 365  # Jan 31 + Feb 28 + Mar 31 + Apr 30 + May 31 + Jun 30 + 2
    assert JILIN.fraction(D(2023, 12, 31)) == 585 / 951
    assert YEAR_2023.fraction(D(2024, 3, 1)) == 1


@pytest.mark.parametrize(
    ("achieved", "status"),
    [
        (None, "behind"),
        (0, "behind"),
        (120, "behind"),
        (135.4, "on_pace"),
        (150, "on_pace"),
        (165.4, "on_pace"),
        (165.5, "ahead"),
        (300, "ahead"),
    ],
)
def test_straight_line_count(achieved, status):
    # expected on 2 July 2023: 300 × 183/365 = 150.41; behind under 90 % (135.37), ahead from 110 % (165.45)
    p = pace(achieved, goal=300, limit=None, rate=False, window=YEAR_2023, day=D(2023, 7, 2))
    assert (p.expected, p.status) == (150.41, status)


def test_programme_target_over_several_years():
    # 300 enterprises by the end of 2024; at the end of 2023, 585 of 951 days: 184.54 expected
    p = pace(150, goal=300, limit=None, rate=False, window=JILIN, day=D(2023, 12, 31))
    assert (p.expected, p.status) == (184.54, "behind")  # 150 < 166.09
    assert pace(170, goal=300, limit=None, rate=False, window=JILIN, day=D(2023, 12, 31)).status == "on_pace"


def test_declared_path():
    # end-2023: 100, end-2025: 300 (a city's "by 2023 … by 2025" targets)
    w = Window(D(2023, 1, 1), D(2025, 12, 31))
    path = {2023: 100, 2025: 300}
    assert along_path(path, w, D(2023, 12, 31)) == 100
    assert along_path(path, w, D(2023, 7, 2)) == pytest.approx(100 * 183 / 365)
    # 2024-12-31 is 366 of the 731 days from 2023-12-31 to 2025-12-31: 100 + 200 × 366/731 = 200.14
    assert pace(180, goal=300, limit=None, rate=False, window=w, day=D(2024, 12, 31), path=path).expected == 200.14
    assert pace(180, goal=300, limit=None, rate=False, window=w, day=D(2024, 12, 31), path=path).status == "behind"
    assert pace(181, goal=300, limit=None, rate=False, window=w, day=D(2024, 12, 31), path=path).status == "on_pace"


def test_rates_and_limits_hold_every_day():
    for day in (D(2023, 1, 5), D(2023, 12, 31)):
        assert pace(96.67, goal=95, limit=None, rate=True, window=YEAR_2023, day=day).status == "on_pace"
        assert pace(94.9, goal=95, limit=None, rate=True, window=YEAR_2023, day=day).status == "behind"
        assert pace(None, goal=95, limit=None, rate=True, window=YEAR_2023, day=day).status is None
        assert pace(96.67, goal=95, limit=None, rate=True, window=YEAR_2023, day=day).expected == 95
    assert pace(6, goal=None, limit=5, rate=False, window=YEAR_2023, day=D(2023, 6, 1)).status == "behind"
    assert pace(5, goal=None, limit=5, rate=False, window=YEAR_2023, day=D(2023, 6, 1)).status == "on_pace"


def test_reaching_the_goal_early_is_ahead_and_on_the_last_day_on_pace():
    assert pace(300, goal=300, limit=None, rate=False, window=YEAR_2023, day=D(2023, 3, 1)).status == "ahead"
    assert pace(300, goal=300, limit=None, rate=False, window=YEAR_2023, day=D(2023, 12, 31)).status == "on_pace"
    assert pace(0, goal=300, limit=None, rate=False, window=YEAR_2023, day=D(2022, 12, 1)).status == "on_pace"
