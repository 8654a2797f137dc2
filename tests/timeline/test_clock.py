"""The instant layer (models.timeline.clock, zhdate): what people type becomes an aware
instant, an instant becomes the local day and minute a reader sees, and spans are worded."""

from __future__ import annotations

import datetime as dt

import pytest

from models.timeline import TZ, InstantInvalid, local_day, minute, span, to_instant
from models.timeline.zhdate import zh_relative

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2023-12-25T09:00", dt.datetime(2023, 12, 25, 9, 0, tzinfo=TZ)),
        ("2023-12-25 09:00", dt.datetime(2023, 12, 25, 9, 0, tzinfo=TZ)),
        ("  2023-12-25  ", dt.datetime(2023, 12, 25, 0, 0, tzinfo=TZ)),  # a date: its first minute
        ("2023-12-25T01:00Z", dt.datetime(2023, 12, 25, 9, 0, tzinfo=TZ)),  # UTC: the same instant
        ("2023-12-25T09:00+08:00", dt.datetime(2023, 12, 25, 9, 0, tzinfo=TZ)),
    ],
)
def test_typed_instants_are_read_in_shanghai_unless_an_offset_says_otherwise(typed, expected):
    got = to_instant(typed)
    assert got == expected and got.utcoffset() is not None


@pytest.mark.parametrize("typed", ["", "tomorrow", "2023-13-01", "25/12/2023", "P1D", "09:00", "2023-02-30T09:00"])
def test_what_is_not_an_instant_is_refused_with_an_example(typed):
    with pytest.raises(InstantInvalid, match="2023-12-25T09:00"):
        to_instant(typed)


def test_naive_values_are_shanghai_time_and_aware_ones_keep_their_instant():
    naive = to_instant(dt.datetime(2023, 12, 25, 9, 0))
    assert naive == dt.datetime(2023, 12, 25, 1, 0, tzinfo=UTC)
    aware = to_instant(dt.datetime(2023, 12, 25, 1, 0, tzinfo=UTC))
    assert aware == naive
    assert to_instant(dt.date(2023, 12, 25)) == dt.datetime(2023, 12, 25, tzinfo=TZ)


def test_the_local_day_and_minute_are_shanghai_ones():
    """17:00 UTC on New Year's Eve is already January 1st in Shanghai — the day a deadline
    is judged by — and a log line says 01:00."""
    t = dt.datetime(2023, 12, 31, 17, 0, tzinfo=UTC)
    assert local_day(t) == dt.date(2024, 1, 1)
    assert minute(t) == "2024-01-01 01:00"
    assert local_day(dt.datetime(2023, 12, 31, 15, 59, tzinfo=UTC)) == dt.date(2023, 12, 31)


def test_spans_are_worded_to_the_second():
    assert span(dt.timedelta(minutes=5)) == "5 minutes"
    assert span(dt.timedelta(hours=1, minutes=5)) == "1 hour 5 minutes"
    assert span(dt.timedelta(minutes=65), locale="zh") == "1小时 5分钟"
    assert span(dt.timedelta(seconds=0.4)) == "0 seconds"
    assert span(dt.timedelta(seconds=-30)) == "0 seconds"  # a span never reads negative
    assert span(dt.timedelta(0), locale="zh") == "0秒"


def test_relative_days_count_from_the_local_day_of_now():
    now = dt.datetime(2023, 12, 1, 23, 30, tzinfo=TZ)
    assert zh_relative(dt.date(2023, 12, 1), now) == "今天"
    assert zh_relative(dt.date(2023, 12, 2), now) == "明天"  # half an hour away, but tomorrow
    assert zh_relative(dt.date(2023, 11, 30), now) == "昨天"
    assert zh_relative(dt.date(2023, 12, 4), now) == "3天后"
    assert zh_relative(dt.date(2023, 11, 28), now) == "3天前"
    # now given in UTC: still judged by the day it is in Shanghai (2023-12-02 here)
    assert zh_relative(dt.date(2023, 12, 2), dt.datetime(2023, 12, 1, 16, 30, tzinfo=UTC)) == "今天"


def test_relative_instants_are_worded_by_pendulum():
    now = dt.datetime(2023, 12, 1, 10, 0, tzinfo=TZ)
    assert zh_relative(now + dt.timedelta(minutes=5), now) == "5分钟后"
    assert zh_relative(now - dt.timedelta(hours=3), now) == "3小时前"
    assert zh_relative((now + dt.timedelta(minutes=5)).astimezone(UTC), now) == "5分钟后"  # offsets do not matter
