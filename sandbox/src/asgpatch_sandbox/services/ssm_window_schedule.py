"""Systems Manager schedule expressions — cron(...), rate(...), at(...) — as Maintenance Windows read them.

The sandbox imports nothing from the engine, so it evaluates AWS's expressions itself. A cron has six
fields (minutes hours day-of-month month day-of-week year), one of the two day fields `?`,
day-of-week 1-7 = SUN-SAT (or names), `L` (last day of the month; `5L` the last Thursday), `nW` / `LW`
(nearest weekday), `n#k` (the k-th weekday n of the month). croniter has no year field and reads
day-of-week 0-6 with cron's OR of the two day fields, so translating is the hard part; walking the
calendar day by day is simple and exact, and runs once per window run (the next start is kept).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {name: i for i, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                             "NOV", "DEC"), start=1)}  # fmt: skip
DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
SEARCH_YEARS = 28  # the calendar repeats (weekdays and leap years) every 28 years: beyond it, never


class InvalidSchedule(ValueError):
    """The expression is not one AWS accepts (the message says why)."""


def _number(token: str, names: dict[str, int], low: int, high: int) -> int:
    value = names.get(token.upper()) if not token.isdigit() else int(token)
    if value is None or not low <= value <= high:
        raise InvalidSchedule(f"{token!r} is not a value between {low} and {high}")
    return value


def _values(field: str, names: dict[str, int], low: int, high: int) -> frozenset[int]:
    """`*`, `a`, `a-b`, `*/n`, `a/n`, `a-b/n`, comma lists."""
    found: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, {}, 1, high) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first, last = _number(first_text, names, low, high), _number(last_text, names, low, high)
            if first > last:
                raise InvalidSchedule(f"the range {base!r} runs backwards")
        else:
            first = _number(base, names, low, high)
            last = high if step_text else first
        found.update(range(first, last + 1, step))
    return frozenset(found)


def _aws_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # Monday is 0 in Python, 2 for AWS; Sunday 6 -> 1


def _nearest_weekday(year: int, month: int, day: int) -> int | None:
    last = calendar.monthrange(year, month)[1]
    if day > last:
        return None
    weekday = date(year, month, day).weekday()
    if weekday == 5:  # Saturday: the Friday before, or the Monday after when that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day


DayRule = Callable[[date], bool]


def _day_of_month(field: str) -> DayRule:
    if field == "L":
        return lambda d: d.day == calendar.monthrange(d.year, d.month)[1]
    if field == "LW":
        return lambda d: d.day == _last_weekday(d.year, d.month)
    match = re.fullmatch(r"(\d{1,2})W", field)
    if match:
        wanted = _number(match.group(1), {}, 1, 31)
        return lambda d: d.day == _nearest_weekday(d.year, d.month, wanted)
    days = _values(field, {}, 1, 31)
    return lambda d: d.day in days


def _last_weekday(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    weekday = date(year, month, last).weekday()
    return last - max(0, weekday - 4)


def _day_of_week(field: str) -> DayRule:
    match = re.fullmatch(r"(\w+)#([1-5])", field)
    if match:
        weekday, nth = _number(match.group(1), DAYS, 1, 7), int(match.group(2))
        return lambda d: _aws_weekday(d) == weekday and (d.day - 1) // 7 + 1 == nth
    match = re.fullmatch(r"(\w*)L", field)
    if match:
        weekday = _number(match.group(1), DAYS, 1, 7) if match.group(1) else 7  # `L` alone: Saturday
        return lambda d: _aws_weekday(d) == weekday and d.day + 7 > calendar.monthrange(d.year, d.month)[1]
    days = _values(field, DAYS, 1, 7)
    return lambda d: _aws_weekday(d) in days


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    day: DayRule

    def next_after(self, moment: datetime) -> datetime | None:
        """The first time strictly after `moment` (aware; the cron is read in its zone), or None."""
        zone = moment.tzinfo
        day, stop = moment.date(), moment.date().replace(day=1) + timedelta(days=366 * SEARCH_YEARS)
        while day < stop:
            if day.year not in self.years:
                later = [year for year in self.years if year > day.year]
                if not later:
                    return None
                day = date(min(later), 1, 1)
                continue
            if day.month not in self.months:
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                continue
            if self.day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        if candidate.timestamp() > moment.timestamp():
                            return candidate
            day += timedelta(days=1)
        return None


def parse_cron(body: str) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise InvalidSchedule("a cron expression has six fields: minutes hours day-of-month month day-of-week year")
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise InvalidSchedule("exactly one of day-of-month and day-of-week must be '?'")
    day = _day_of_week(day_of_week) if day_of_month == "?" else _day_of_month(day_of_month)
    return Cron(
        minutes=tuple(sorted(_values(minutes, {}, 0, 59))),
        hours=tuple(sorted(_values(hours, {}, 0, 23))),
        months=_values(month, MONTHS, 1, 12),
        years=_values(year, {}, 1970, 2199),
        day=day,
    )


@dataclass(frozen=True)
class Rate:
    seconds: int


@dataclass(frozen=True)
class At:
    local: datetime  # naive: read in the window's time zone


RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def parse(expression: str) -> Cron | Rate | At:
    """The schedule, or InvalidSchedule."""
    match = re.fullmatch(r"\s*(cron|rate|at)\((.*)\)\s*", expression or "")
    if not match:
        raise InvalidSchedule("a schedule is cron(...), rate(...) or at(...)")
    kind, body = match.groups()
    if kind == "cron":
        return parse_cron(body)
    if kind == "rate":
        rate = re.fullmatch(r"\s*(\d+)\s+(\w+)\s*", body)
        if not rate or rate.group(2) not in RATE_UNITS or int(rate.group(1)) < 1:
            raise InvalidSchedule("a rate is rate(N minutes|hours|days)")
        return Rate(int(rate.group(1)) * RATE_UNITS[rate.group(2)])
    try:
        return At(datetime.strptime(body.strip(), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise InvalidSchedule("a single run is at(yyyy-mm-ddThh:mm:ss)") from None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"{name!r} is not an IANA time zone") from None


def parse_date(value: str | None) -> float | None:
    """StartDate / EndDate: ISO 8601, with or without an offset (UTC when none)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSchedule(f"{value!r} is not an ISO 8601 date") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def next_run(
    expression: str,
    after: float,
    *,
    timezone: str | None = None,
    offset_days: int = 0,
    start_date: str | None = None,
    end_date: str | None = None,
    anchor: float | None = None,
) -> tuple[float, float] | None:
    """(start, occurrence): when the window next starts, for the first schedule occurrence strictly
    after `after` — or None when it never will again. The two differ by ScheduleOffset only.

    A cron occurrence must itself come after `after` before the offset is added (AWS: a cron date
    already past this period with an offset still ahead does not run this period). StartDate and
    EndDate bound the run time. A rate counts from StartDate when it is in the future, else from
    `anchor` (when the window was created or last changed): the first run is one interval later.
    """
    schedule, tz = parse(expression), zone(timezone)
    start, end = parse_date(start_date), parse_date(end_date)
    found: tuple[float, float] | None
    if isinstance(schedule, At):
        moment = schedule.local.replace(tzinfo=tz).timestamp()
        found = (moment, moment) if moment > after and (start is None or moment >= start) else None
    elif isinstance(schedule, Rate):
        origin = start if start is not None and start > (anchor or after) else (anchor or after)
        steps = max(1, int((after - origin) // schedule.seconds) + 1)
        found = (origin + steps * schedule.seconds,) * 2
    else:
        found = _next_cron(schedule, after, tz, offset_days, start)
    if found is None or (end is not None and found[0] > end):
        return None
    return found


def _next_cron(
    cron: Cron, after: float, tz: ZoneInfo, offset_days: int, start: float | None
) -> tuple[float, float] | None:
    base = datetime.fromtimestamp(after, tz=tz)
    if start is not None and start - offset_days * 86400 - 86400 > after:
        base = datetime.fromtimestamp(start - offset_days * 86400 - 86400, tz=tz)
    for _ in range(1000):
        occurrence = cron.next_after(base)
        if occurrence is None:
            return None
        run = (occurrence + timedelta(days=offset_days)).timestamp()  # same wall-clock time, days later
        if start is None or run >= start:
            return run, occurrence.timestamp()
        base = occurrence
    return None
