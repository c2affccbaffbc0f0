"""AWS schedule expressions, `cron(...)` and `rate(...)`, validated and evaluated as Maintenance
Windows and EventBridge read them, so a schedule can be checked (and its next runs seen) before it is
deployed. Pure: no AWS, no click; the `schedule` command and the template command call `parse`.

Where the two services' documentation differs, only what both document is accepted, so a schedule
passing here is one either should take: six fields (the optional leading seconds field is Maintenance
Windows' alone), no `/` in day-of-week (EventBridge lists none), and no cron firing more often than
every 5 minutes (Maintenance Windows' floor; EventBridge's is 1 minute). Local times that do not
exist (a spring-forward gap) are skipped and a repeated hour (autumn) runs once, at its first
occurrence, as EventBridge Scheduler documents (the Systems Manager guide does not say); a rate counts
fixed durations from its start. docs/output.md lists the rules and their sources.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asgpatch.aws_schedule_fields import (
    DAY_OF_MONTH,
    HOURS,
    LAST_YEAR,
    MINUTES,
    MONTH,
    YEAR,
    Days,
    Field,
    ScheduleError,
    parse_days,
    parse_field,
)

__all__ = ["CronSchedule", "RateSchedule", "Schedule", "ScheduleError", "describe", "no_run_reason", "parse", "zone"]

FIELDS = "minutes hours day-of-month month day-of-week year"
MIN_CRON_GAP = 5  # minutes: Maintenance Windows refuse "cron expressions that lead to rates faster than 5 minutes"
UNITS = {"minute": 1, "hour": 60, "day": 1440}
_END = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)  # nothing runs after AWS's last cron year


class Schedule(ABC):
    """A parsed expression; `expression` is as AWS stores it (no quotes or surrounding blanks)."""

    expression: str

    @abstractmethod
    def next_times(self, after: datetime, count: int, timezone: str) -> list[datetime]:
        """Up to `count` run times strictly after `after`, in `timezone`, oldest first; fewer (or
        none) when the schedule ends first. A naive `after` is read in `timezone`."""


@dataclass(frozen=True)
class CronSchedule(Schedule):
    expression: str
    minutes: Field
    hours: Field
    days: Days
    months: Field
    years: Field

    def next_times(self, after: datetime, count: int, timezone: str) -> list[datetime]:
        """Day by day (only through the years and months named), each day's hours and minutes in
        order: never minute by minute, and bounded by the last year AWS accepts."""
        place = zone(timezone)
        after = after if after.tzinfo else after.replace(tzinfo=place)
        since = after.timestamp()
        start = after.astimezone(place).date()
        found: list[datetime] = []
        for year in (y for y in self.years.values if y >= start.year):
            for month in (m for m in self.months.values if (year, m) >= (start.year, start.month)):
                for day in self.days.in_month(year, month):
                    if (year, month, day) < (start.year, start.month, start.day):
                        continue
                    for hour in self.hours.values:
                        for minute in self.minutes.values:
                            local = datetime(year, month, day, hour, minute, tzinfo=place)  # fold=0: the first
                            if _exists(local) and local.timestamp() > since:
                                found.append(local)
                                if len(found) == count:
                                    return found
        return found


@dataclass(frozen=True)
class RateSchedule(Schedule):
    expression: str
    value: int
    unit: str  # minute, hour or day

    @property
    def minutes(self) -> int:
        return self.value * UNITS[self.unit]

    def next_times(self, after: datetime, count: int, timezone: str) -> list[datetime]:
        """`after` + k times the rate: AWS counts from when the schedule was created (or its start date),
        in fixed durations (a day is 24 hours, whatever daylight saving does)."""
        place = zone(timezone)
        after = after if after.tzinfo else after.replace(tzinfo=place)
        base, step = after.timestamp(), self.minutes * 60
        times = (base + k * step for k in range(1, count + 1))
        return [datetime.fromtimestamp(t, tz=place) for t in times if t < _END.timestamp()]


def parse(expression: str) -> Schedule:
    """A cron(...) or rate(...) expression, also as written in a CloudFormation template (quoted,
    with blanks around it); raises ScheduleError naming the field at fault."""
    text = _unquote(expression)
    if not text:
        raise ScheduleError("the schedule is empty: expected cron(...) or rate(...)")
    if text.startswith("cron(") and text.endswith(")"):
        return _cron(text)
    if text.startswith("rate(") and text.endswith(")"):
        return _rate(text)
    if text.startswith("at("):
        raise ScheduleError("at(...) runs once; expected a recurring cron(...) or rate(...)")
    raise ScheduleError("expected cron(...) or rate(...), e.g. cron(0 4 ? * WED#2 *) or rate(7 days)")


def _unquote(expression: str) -> str:
    text = expression.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _cron(text: str) -> CronSchedule:
    parts = text[len("cron(") : -1].split()
    if len(parts) != 6:
        seconds = "; a leading seconds field is Maintenance Windows' alone" if len(parts) == 7 else ""
        raise ScheduleError(f"cron takes 6 fields ({FIELDS}), got {len(parts)}{seconds}")
    minute, hour, day_of_month, month, day_of_week, year = parts
    days = parse_days(day_of_month, day_of_week)
    schedule = CronSchedule(
        " ".join(["cron(" + minute, hour, day_of_month, month, day_of_week, year]) + ")",
        parse_field(minute, MINUTES),
        parse_field(hour, HOURS),
        days,
        parse_field(month, MONTH),
        parse_field(year, YEAR),
    )
    if _shortest_gap(schedule.minutes, schedule.hours) < MIN_CRON_GAP:
        raise ScheduleError(
            f"minutes and hours: runs more often than every {MIN_CRON_GAP} minutes, "
            "which Maintenance Windows do not accept"
        )
    return schedule


def _shortest_gap(minutes: Field, hours: Field) -> int:
    """The shortest time between two runs within a day (and across midnight when hours 23 and 0 both run)."""
    marks = [hour * 60 + minute for hour in hours.values for minute in minutes.values]
    gaps = [later - earlier for earlier, later in pairwise(marks)]
    if hours.values[0] == 0 and hours.values[-1] == 23:
        gaps.append(marks[0] + 1440 - marks[-1])
    return min(gaps, default=1440)


def _rate(text: str) -> RateSchedule:
    parts = text[len("rate(") : -1].split()
    if len(parts) != 2:
        raise ScheduleError("rate takes a value and a unit, e.g. rate(7 days)")
    value_text, unit = parts
    if not (value_text.isascii() and value_text.isdigit()) or int(value_text) == 0:
        raise ScheduleError(f"rate value: {value_text!r} is not a positive whole number")
    value = int(value_text)
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in UNITS:
        raise ScheduleError(f"rate unit: {unit!r} is not one of minute(s), hour(s), day(s)")
    if value == 1 and unit != singular:
        raise ScheduleError(f"rate unit: {unit} must be singular for a value of 1 ({singular})")
    if value > 1 and unit == singular:
        raise ScheduleError(f"rate unit: {unit} must be plural for a value above 1 ({singular}s)")
    return RateSchedule(f"rate({value} {unit})", value, singular)


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, as ScheduleTimezone takes it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"time zone {name!r} is not an IANA time zone name (e.g. UTC, Europe/London)") from None


def _exists(local: datetime) -> bool:
    """Whether a wall-clock time happens at all in its zone (not inside a spring-forward gap)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def no_run_reason(schedule: Schedule, after: datetime) -> str:
    """Why next_times found nothing, naming the year field when every year it names has passed."""
    stamp = after.isoformat()
    if isinstance(schedule, CronSchedule):
        if schedule.years.values[-1] < after.year:
            return f"year: every year it names is past; no run time after {stamp}"
        days = schedule.days
        first = days.field.values[0] if days.kind == "dates" and days.field else days.day
        if days.kind in ("dates", "nearest-weekday") and first > max(_longest(m) for m in schedule.months.values):
            return f"{DAY_OF_MONTH.name}: day {first} never falls in the months named; no run time after {stamp}"
    return f"no run time after {stamp} (AWS's schedules end with {LAST_YEAR})"


def _longest(month: int) -> int:
    return 29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31


def describe(schedule: Schedule, timezone: str) -> str:
    """In words, e.g. "At 04:00 on the second Wednesday of every month (UTC)"."""
    from asgpatch.aws_schedule_words import describe_cron, describe_rate

    if isinstance(schedule, RateSchedule):
        return describe_rate(schedule.value, schedule.unit)
    assert isinstance(schedule, CronSchedule)
    return describe_cron(schedule, timezone)
