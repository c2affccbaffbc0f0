"""AWS cron and rate expressions as Maintenance Windows and EventBridge read them: AWS's documented
examples give the known answers, every refused form names its field, and a property checks the
evaluator against a minute-by-minute oracle that shares none of its code."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from asgpatch.aws_schedule import ScheduleError, describe, no_run_reason, parse


def runs(expression: str, after: str, count: int = 3, timezone: str = "UTC") -> list[str]:
    moment = datetime.fromisoformat(after)
    return [t.isoformat() for t in parse(expression).next_times(moment, count, timezone)]


def utc(*days: str, at: str = "04:00") -> list[str]:
    return [f"{day}T{at}:00+00:00" for day in days]


# --- known answers -----------------------------------------------------------------------------------


def test_the_second_wednesday_by_name_and_by_number():
    second_wednesday = utc("2026-12-09", "2027-01-13", "2027-02-10")
    assert runs("cron(0 4 ? * WED#2 *)", "2026-12-01T00:00:00Z") == second_wednesday
    assert runs("cron(0 4 ? * 4#2 *)", "2026-12-01T00:00:00Z") == second_wednesday
    assert runs("cron(30 23 ? * TUE#3 *)", "2027-01-01T00:00:00Z", 1) == ["2027-01-19T23:30:00+00:00"]


def test_a_fifth_weekday_only_in_months_that_have_one():
    assert runs("cron(0 4 ? * MON#5 *)", "2026-01-01T00:00:00Z") == utc("2026-03-30", "2026-06-29", "2026-08-31")


def test_the_last_day_of_the_month_including_a_leap_february():
    assert runs("cron(0 0 L * ? *)", "2027-12-15T00:00:00Z", 4, "UTC") == utc(
        "2027-12-31", "2028-01-31", "2028-02-29", "2028-03-31", at="00:00"
    )
    assert runs("cron(0 2 L FEB ? *)", "2027-01-01T00:00:00Z", 2) == utc("2027-02-28", "2028-02-29", at="02:00")


def test_the_nearest_weekday_never_leaves_the_month():
    # 2027-05-15 is a Saturday: the Friday before. 2027-08-15 is a Sunday: the Monday after.
    assert runs("cron(0 9 15W * ? *)", "2027-05-01T00:00:00Z", 1) == utc("2027-05-14", at="09:00")
    assert runs("cron(0 9 15W * ? *)", "2027-08-01T00:00:00Z", 1) == utc("2027-08-16", at="09:00")
    # 2027-05-01 is a Saturday: 1W is Monday the 3rd, not Friday 30 April.
    assert runs("cron(0 9 1W * ? *)", "2027-04-30T12:00:00Z", 1) == utc("2027-05-03", at="09:00")
    # 2027-01-31 is a Sunday and the last day: the Friday before.
    assert runs("cron(0 9 31W * ? *)", "2027-01-01T00:00:00Z", 2) == utc("2027-01-29", "2027-03-31", at="09:00")
    assert runs("cron(0 9 15W * ? *)", "2027-06-01T00:00:00Z", 1) == utc("2027-06-15", at="09:00")  # a Tuesday


def test_the_last_weekday_of_the_month():
    # 2027-01-31 is a Sunday, 2027-07-31 a Saturday, 2027-03-31 a Wednesday.
    assert runs("cron(0 9 LW JAN,MAR,JUL ? *)", "2027-01-01T00:00:00Z") == utc(
        "2027-01-29", "2027-03-31", "2027-07-30", at="09:00"
    )


def test_the_last_friday_and_l_alone_meaning_saturday():
    assert runs("cron(15 10 ? * 6L *)", "2026-12-01T00:00:00Z") == utc(
        "2026-12-25", "2027-01-29", "2027-02-26", at="10:15"
    )
    assert runs("cron(15 10 ? * FRIL *)", "2026-12-01T00:00:00Z", 1) == utc("2026-12-25", at="10:15")
    assert runs("cron(0 2 ? * L *)", "2026-12-01T00:00:00Z", 2) == utc("2026-12-05", "2026-12-12", at="02:00")


def test_steps_ranges_and_lists():
    assert runs("cron(0/15 * * * ? *)", "2026-12-01T00:50:00Z") == [
        "2026-12-01T01:00:00+00:00", "2026-12-01T01:15:00+00:00", "2026-12-01T01:30:00+00:00"]  # fmt: skip
    assert runs("cron(0/5 8-17 ? * MON-FRI *)", "2026-12-04T17:52:00Z", 2) == [  # Friday, then Monday
        "2026-12-04T17:55:00+00:00", "2026-12-07T08:00:00+00:00"]  # fmt: skip
    assert runs("cron(0 4 1 JAN,JUL ? *)", "2026-12-01T00:00:00Z") == utc("2027-01-01", "2027-07-01", "2028-01-01")
    assert runs("cron(5,35 14 * * ? *)", "2026-12-01T14:10:00Z", 2) == [
        "2026-12-01T14:35:00+00:00", "2026-12-02T14:05:00+00:00"]  # fmt: skip
    assert runs("cron(0 0 1 1-12/3 ? *)", "2026-12-01T00:00:00Z") == utc(
        "2027-01-01", "2027-04-01", "2027-07-01", at="00:00"
    )


def test_a_range_that_wraps_past_midnight_and_the_weekend():
    assert runs("cron(0 22-1 ? * FRI-MON *)", "2026-12-04T21:00:00Z", 6) == [  # Friday 4 December
        "2026-12-04T22:00:00+00:00", "2026-12-04T23:00:00+00:00", "2026-12-05T00:00:00+00:00",
        "2026-12-05T01:00:00+00:00", "2026-12-05T22:00:00+00:00", "2026-12-05T23:00:00+00:00"]  # fmt: skip


def test_years_bound_the_schedule():
    assert runs("cron(15 10 ? * 6L 2019-2022)", "2026-01-01T00:00:00Z") == []
    assert runs("cron(0 4 1 JAN ? 2027,2029-2030)", "2026-01-01T00:00:00Z", 5) == utc(
        "2027-01-01", "2029-01-01", "2030-01-01"
    )
    assert runs("cron(0 4 1 JAN ? 2030/5)", "2026-01-01T00:00:00Z", 2) == utc("2030-01-01", "2035-01-01")
    assert runs("cron(0 4 31 DEC ? *)", "2199-12-30T00:00:00Z", 5) == utc("2199-12-31")


def test_rates_count_fixed_durations_from_after():
    assert runs("rate(5 minutes)", "2026-12-01T10:02:30Z") == [
        "2026-12-01T10:07:30+00:00", "2026-12-01T10:12:30+00:00", "2026-12-01T10:17:30+00:00"]  # fmt: skip
    assert runs("rate(1 hour)", "2026-12-01T10:00:00Z", 1) == ["2026-12-01T11:00:00+00:00"]
    assert runs("rate(1 minute)", "2026-12-01T10:00:00Z", 1) == ["2026-12-01T10:01:00+00:00"]
    assert runs("rate(25 days)", "2026-12-01T10:00:00Z", 1) == ["2026-12-26T10:00:00+00:00"]
    # A day is 24 hours: across the spring change the wall clock moves from 12:00 to 13:00.
    assert runs("rate(1 day)", "2027-03-13T12:00:00-05:00", 2, "America/New_York") == [
        "2027-03-14T13:00:00-04:00", "2027-03-15T13:00:00-04:00"]  # fmt: skip


# --- time zones --------------------------------------------------------------------------------------


def test_new_york_spring_forward_skips_the_time_that_does_not_exist():
    # 2027-03-14 02:00 EST jumps to 03:00 EDT: 02:30 never happens that day.
    assert runs("cron(30 2 * * ? *)", "2027-03-13T00:00:00-05:00", 3, "America/New_York") == [
        "2027-03-13T02:30:00-05:00", "2027-03-15T02:30:00-04:00", "2027-03-16T02:30:00-04:00"]  # fmt: skip
    assert runs("cron(0 4 * * ? *)", "2027-03-13T12:00:00Z", 2, "America/New_York") == [
        "2027-03-14T04:00:00-04:00", "2027-03-15T04:00:00-04:00"]  # fmt: skip


def test_new_york_fall_back_runs_a_repeated_time_once():
    # 2027-11-07 02:00 EDT goes back to 01:00 EST: 01:30 happens twice and runs at the first.
    assert runs("cron(30 1 * * ? *)", "2027-11-06T12:00:00Z", 3, "America/New_York") == [
        "2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00", "2027-11-09T01:30:00-05:00"]  # fmt: skip
    assert runs("cron(0/30 1-2 * * ? *)", "2027-11-07T00:00:00-04:00", 5, "America/New_York") == [
        "2027-11-07T01:00:00-04:00", "2027-11-07T01:30:00-04:00", "2027-11-07T02:00:00-05:00",
        "2027-11-07T02:30:00-05:00", "2027-11-08T01:00:00-05:00"]  # fmt: skip
    # Inside the repeated hour's second pass, its times are not run again.
    assert runs("cron(45 1 * * ? *)", "2027-11-07T01:10:00-05:00", 1, "America/New_York") == [
        "2027-11-08T01:45:00-05:00"]  # fmt: skip


def test_london_across_both_changes():
    assert runs("cron(30 1 * * ? *)", "2027-03-27T00:00:00Z", 2, "Europe/London") == [
        "2027-03-27T01:30:00+00:00",
        "2027-03-29T01:30:00+01:00",
    ]  # 28 March: 01:00 GMT jumps to 02:00 BST
    assert runs("cron(30 1 * * ? *)", "2027-10-30T12:00:00Z", 2, "Europe/London") == [
        "2027-10-31T01:30:00+01:00", "2027-11-01T01:30:00+00:00"]  # fmt: skip


def test_cron_fields_are_read_in_the_zone_and_a_naive_after_too():
    assert runs("cron(0 9 ? * MON *)", "2027-01-01T00:00:00", 1, "Asia/Kolkata") == ["2027-01-04T09:00:00+05:30"]
    assert runs("cron(0 9 ? * MON *)", "2027-01-04T09:00:00", 1, "Asia/Kolkata") == ["2027-01-11T09:00:00+05:30"]


def test_a_bad_time_zone_is_refused():
    with pytest.raises(ScheduleError, match="time zone 'Mars/Olympus'"):
        parse("rate(1 hour)").next_times(datetime(2027, 1, 1, tzinfo=UTC), 1, "Mars/Olympus")


# --- what AWS refuses ---------------------------------------------------------------------------------

REFUSED = [
    ("", "empty"),
    ("garbage", "expected cron(...) or rate(...)"),
    ("cron(0 4 * * ?)", "cron takes 6 fields"),
    ("cron(0 0 4 * * ? *)", "got 7; a leading seconds field is Maintenance Windows' alone"),
    ("cron(0 4 * * * *)", "day-of-month and day-of-week: one of them must be ?"),
    ("cron(0 4 1 * MON *)", "day-of-month and day-of-week: one of them must be ?"),
    ("cron(0 4 ? * ? *)", "day-of-month and day-of-week: only one of them can be ?"),
    ("cron(60 4 * * ? *)", "minutes: 60 is out of range (0-59)"),
    ("cron(0 24 * * ? *)", "hours: 24 is out of range (0-23)"),
    ("cron(0 4 0 * ? *)", "day-of-month: 0 is out of range (1-31)"),
    ("cron(0 4 32 * ? *)", "day-of-month: 32 is out of range (1-31)"),
    ("cron(0 4 * 13 ? *)", "month: 13 is out of range (1-12)"),
    ("cron(0 4 ? * 0 *)", "day-of-week: 0 is out of range (1-7)"),
    ("cron(0 4 ? * 8 *)", "day-of-week: 8 is out of range (1-7)"),
    ("cron(0 4 * * ? 1969)", "year: 1969 is out of range (1970-2199)"),
    ("cron(0 4 * * ? 2200)", "year: 2200 is out of range (1970-2199)"),
    ("cron(0 4 * JANUARY ? *)", "month: 'JANUARY' is not a value"),
    ("cron(0 4 ? * WEDNESDAY *)", "day-of-week: 'WEDNESDAY' is not a value"),
    ("cron(0 4 ? * WED#6 *)", "day-of-week: #6 is out of range"),
    ("cron(0 4 ? * WED#0 *)", "day-of-week: #0 is out of range"),
    ("cron(0 4 ? * 3#1,6#3 *)", "day-of-week: 3#1,6#3: with # the field holds a single expression"),
    ("cron(L 4 * * ? *)", "minutes: L is not allowed here"),
    ("cron(0 W * * ? *)", "hours: W is not allowed here"),
    ("cron(0 4 * * ? L)", "year: L is not allowed here"),
    ("cron(0 4 * ? ? *)", "month: ? is not allowed here"),
    ("cron(0 4 * * ? #)", "year: # is not allowed here"),
    ("cron(0 4 L-3 * ? *)", "day-of-month: L-3: an offset from the last day is not accepted"),
    ("cron(0 4 3L * ? *)", "day-of-month: 3L"),
    ("cron(0 4 W * ? *)", "day-of-month: W"),
    ("cron(0 4 1,LW * ? *)", "day-of-month: 1,LW"),
    ("cron(0 4 ? * 5L,6L *)", "day-of-week: 5L,6L"),
    ("cron(0 4 ? * MON/2 *)", "day-of-week: / is not allowed here"),
    ("cron(0/0 4 * * ? *)", "minutes: '0/0': the step"),
    ("cron(0/60 4 * * ? *)", "minutes: '0/60': a step of 60 is larger than the field"),
    ("cron(0, 4 * * ? *)", "minutes: '0,' has an empty value"),
    ("cron(*,5 4 * * ? *)", "minutes: * cannot be part of a list"),
    ("cron(0 4 * * ? 2030-2020)", "year: '2030-2020' is a range backwards"),
    ("cron(* 4 * * ? *)", "more often than every 5 minutes"),
    ("cron(0/2 * * * ? *)", "more often than every 5 minutes"),
    ("cron(58,1 23,0 * * ? *)", "more often than every 5 minutes"),  # 23:58 then 00:01
    ("rate(1 days)", "rate unit: days must be singular for a value of 1 (day)"),
    ("rate(5 minute)", "rate unit: minute must be plural for a value above 1 (minutes)"),
    ("rate(0 hours)", "rate value: '0' is not a positive whole number"),
    ("rate(-3 hours)", "rate value: '-3'"),
    ("rate(1.5 hours)", "rate value: '1.5'"),
    ("rate(2 weeks)", "rate unit: 'weeks'"),
    ("rate(5)", "rate takes a value and a unit"),
    ("at(2027-07-07T15:55:00)", "at(...) runs once"),
]


@pytest.mark.parametrize(("expression", "message"), REFUSED)
def test_what_aws_refuses_is_refused_naming_the_field(expression: str, message: str):
    with pytest.raises(ScheduleError) as caught:
        parse(expression)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_forms_of_a_cloudformation_template_and_aws_spellings_are_accepted():
    assert parse('  "cron(0 4 ? * wed#2 *)" ').expression == "cron(0 4 ? * wed#2 *)"
    assert parse("'rate(7 days)'").expression == "rate(7 days)"
    assert parse("cron(30  09 ?  * Mon-Fri *)").expression == "cron(30 09 ? * Mon-Fri *)"
    for accepted in (
        "cron(0 18 31W * ? *)",
        "cron(0 4 ? * SATL *)",
        "cron(0 9-5 ? * MON-FRI *)",
        "cron(0 0 1 02-MAR ? *)",
    ):
        parse(accepted)


def test_no_run_time_says_which_field_is_why():
    after = datetime(2026, 6, 1, tzinfo=UTC)
    assert no_run_reason(parse("cron(0 4 * * ? 2020)"), after).startswith("year: every year it names is past")
    assert no_run_reason(parse("cron(0 4 30 FEB ? *)"), after).startswith("day-of-month: day 30 never falls")
    assert parse("cron(0 4 30 FEB ? *)").next_times(after, 3, "UTC") == []


# --- in words ------------------------------------------------------------------------------------------

WORDS = [
    ("cron(0 4 ? * WED#2 *)", "At 04:00 on the second Wednesday of every month (UTC)"),
    ("cron(0 0 L * ? *)", "At 00:00 on the last day of every month (UTC)"),
    ("cron(0 10 * * ? *)", "At 10:00 every day (UTC)"),
    ("cron(0 18 ? * MON-FRI *)", "At 18:00 on Monday through Friday (UTC)"),
    ("cron(0/15 * * * ? *)", "Every 15 minutes (UTC)"),
    ("cron(1/10 * * * ? *)", "Every 10 minutes from minute 1 (UTC)"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "Every 5 minutes from 08:00 through 17:55 on Monday through Friday (UTC)"),
    ("cron(15 10 ? * 6L 2019-2022)", "At 10:15 on the last Friday of every month, in 2019 through 2022 (UTC)"),
    ("cron(0 4 1 JAN,JUL ? *)", "At 04:00 on day 1 of January and July (UTC)"),
    ("cron(0 4 ? JAN,JUL MON *)", "At 04:00 on Monday in January and July (UTC)"),
    ("cron(0 9 15W * ? *)", "At 09:00 on the weekday nearest day 15 of every month (UTC)"),
    ("cron(0 9 LW * ? *)", "At 09:00 on the last weekday of every month (UTC)"),
    ("cron(5,35 14 * * ? *)", "At 14:05 and 14:35 every day (UTC)"),
    ("cron(15 * * * ? *)", "At minute 15 of every hour (UTC)"),
    ("cron(0 0/2 * * ? *)", "At minute 0 of every 2 hours (UTC)"),
    ("cron(0 2 ? * L *)", "At 02:00 on Saturday (UTC)"),
    ("rate(7 days)", "Every 7 days, counted from when the schedule is created"),
    ("rate(1 hour)", "Every hour, counted from when the schedule is created"),
]


@pytest.mark.parametrize(("expression", "words"), WORDS)
def test_descriptions(expression: str, words: str):
    assert describe(parse(expression), "UTC") == words


def test_the_description_names_the_zone():
    assert describe(parse("cron(0 4 ? * SUN *)"), "Europe/London") == "At 04:00 on Sunday (Europe/London)"


# --- property: every run matches, nothing is missed ---------------------------------------------------


def _values(low: int, high: int) -> st.SearchStrategy[tuple[str, frozenset[int]]]:
    """A field's text and the values it means, built apart from the parser."""
    one = st.integers(low, high).map(lambda v: (str(v), frozenset([v])))
    some = st.lists(st.integers(low, high), min_size=1, max_size=4, unique=True).map(
        lambda vs: (",".join(map(str, vs)), frozenset(vs))
    )
    span = high - low + 1

    def ranged(a: int, b: int, step: int) -> tuple[str, frozenset[int]]:
        length = (b - a) % span
        return f"{a}-{b}/{step}", frozenset(low + (a - low + k) % span for k in range(0, length + 1, step))

    stepped = st.builds(
        lambda a, n: (f"{a}/{n}", frozenset(range(a, high + 1, n))), st.integers(low, high), st.integers(5, 30)
    )
    every = st.just(("*", frozenset(range(low, high + 1))))
    wrapped = st.builds(ranged, st.integers(low, high), st.integers(low, high), st.integers(1, 4))
    return st.one_of(one, some, stepped, every, wrapped)


def _is_weekday(day: date) -> bool:
    return day.weekday() < 5


def _day_rule(day: date, kind: str, n: int) -> bool:
    """Whether `day` is picked, from the calendar alone (1=SUN numbering converted here, once)."""
    last = calendar.monthrange(day.year, day.month)[1]
    aws_weekday = day.isoweekday() % 7 + 1
    if kind == "every":
        return True
    if kind == "date":
        return day.day == n
    if kind == "L":
        return day.day == last
    if kind == "W":  # the weekday of this month nearest day n (none when the month has no day n)
        weekdays = [d for d in range(1, last + 1) if _is_weekday(day.replace(day=d))]
        return n <= last and day.day == min(weekdays, key=lambda d: abs(d - n))
    if kind == "LW":
        return day.day == max(d for d in range(1, last + 1) if _is_weekday(day.replace(day=d)))
    if kind == "MON-FRI":
        return _is_weekday(day)
    weekday, nth = divmod(n, 10)
    if kind == "#":
        return aws_weekday == weekday and (day.day - 1) // 7 + 1 == nth
    return aws_weekday == weekday and day.day + 7 > last  # nL


DAYS = st.one_of(
    st.just(("* ?", "every", 0)), st.just(("? *", "every", 0)), st.just(("L ?", "L", 0)), st.just(("LW ?", "LW", 0)),
    st.just(("? MON-FRI", "MON-FRI", 0)),
    st.integers(1, 31).map(lambda d: (f"{d} ?", "date", d)),
    st.integers(1, 31).map(lambda d: (f"{d}W ?", "W", d)),
    st.tuples(st.integers(1, 7), st.integers(1, 5)).map(lambda p: (f"? {p[0]}#{p[1]}", "#", p[0] * 10 + p[1])),
    st.integers(1, 7).map(lambda w: (f"? {w}L", "nL", w * 10)),
)  # fmt: skip
ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    minutes=_values(0, 59),
    hours=_values(0, 23),
    days=DAYS,
    months=_values(1, 12),
    timezone=ZONES,
    after=st.datetimes(datetime(2026, 1, 1), datetime(2032, 12, 31), timezones=st.just(UTC)),
)
def test_every_run_matches_the_fields_none_is_missed_and_they_increase(minutes, hours, days, months, timezone, after):
    day_text, kind, n = days
    expression = f"cron({minutes[0]} {hours[0]} {day_text.split()[0]} {months[0]} {day_text.split()[1]} *)"
    try:
        schedule = parse(expression)
    except ScheduleError:
        assume(False)
        raise
    place = ZoneInfo(timezone)
    found = schedule.next_times(after, 50, timezone)

    def matches(local: datetime) -> bool:
        return (local.minute in minutes[1] and local.hour in hours[1] and local.month in months[1]
                and _day_rule(local.date(), kind, n))  # fmt: skip

    assert all(a < b for a, b in pairwise(found))
    assert all(t > after and t.tzinfo is place and matches(t) for t in found)
    # The oracle: every UTC minute of the next two days, seen on the zone's clock (a repeated hour's
    # second pass, fold=1, does not run).
    start = after.replace(second=0, microsecond=0)
    window_end = min([start + timedelta(days=2), *found[-1:]]) if len(found) == 50 else start + timedelta(days=2)
    oracle = []
    moment = start + timedelta(minutes=1)
    while moment <= window_end:
        local = moment.astimezone(place)
        if local.fold == 0 and matches(local):
            oracle.append(moment)
        moment += timedelta(minutes=1)
    assert [t for t in found if t <= window_end] == oracle
