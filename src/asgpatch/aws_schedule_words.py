"""A schedule in words, so a reader can check that the expression says what they meant before it is
deployed: "At 04:00 on the second Wednesday of every month (UTC)". Built from the fields as written
(ranges stay ranges, steps stay steps), not from the values they expand to."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from asgpatch.aws_schedule_fields import Days, Field, Term

if TYPE_CHECKING:
    from asgpatch.aws_schedule import CronSchedule

MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")  # fmt: skip
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
ORDINALS = ("first", "second", "third", "fourth", "fifth")
FIXED_TIMES = 6  # up to this many times of day are listed ("At 04:00 and 16:00") rather than described


def describe_rate(value: int, unit: str) -> str:
    every = f"Every {unit}" if value == 1 else f"Every {value} {unit}s"
    return f"{every}, counted from when the schedule is created"


def describe_cron(schedule: CronSchedule, timezone: str) -> str:
    time, fixed = _time(schedule.minutes, schedule.hours)
    return f"{time}{_days(schedule.days, schedule.months, fixed)}{_years(schedule.years)} ({timezone})"


def join(items: Iterable[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    words = list(items)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _term(term: Term, name: Callable[[int], str]) -> str:
    if term.single:
        return name(term.start)
    text = f"{name(term.start)} through {name(term.end)}"
    return text if term.step == 1 else f"{text} (every {_ordinal(term.step)})"


def _terms(field: Field, name: Callable[[int], str]) -> str:
    return join(_term(term, name) for term in field.terms)


def _stepped(field: Field) -> Term | None:
    """The field's one term when it is a step over the whole field from its start (0/15, */2, 1/10)."""
    if len(field.terms) != 1:
        return None
    term = field.terms[0]
    return term if term.step > 1 and term.end == field.spec.high else None


def _time(minutes: Field, hours: Field) -> tuple[str, bool]:
    """The time of day, and whether it is a list of fixed times (then "every day" reads well after it)."""
    if minutes.singles and hours.singles and len(minutes.values) * len(hours.values) <= FIXED_TIMES:
        return "At " + join(f"{h:02d}:{m:02d}" for h in hours.values for m in minutes.values), True
    if len(minutes.values) == 1:
        return f"At minute {minutes.values[0]} of {_hours(hours)}", False
    phrase = _minutes(minutes)
    if hours.every:
        return phrase, False
    term = hours.terms[0]
    if len(hours.terms) == 1 and term.step == 1 and not term.single and _stepped(minutes):
        first, last = minutes.values[0], minutes.values[-1]
        return f"{phrase} from {term.start:02d}:{first:02d} through {term.end:02d}:{last:02d}", False
    return f"{phrase} of {_hours(hours)}", False


def _minutes(minutes: Field) -> str:
    if minutes.every:
        return "Every minute"
    step = _stepped(minutes)
    if step is not None:
        return f"Every {step.step} minutes" + ("" if step.start == 0 else f" from minute {step.start}")
    return "Minutes " + _terms(minutes, str)


def _hours(hours: Field) -> str:
    if hours.every:
        return "every hour"
    step = _stepped(hours)
    if step is not None:
        return f"every {step.step} hours" + ("" if step.start == 0 else f" from {step.start:02d}:00")
    return ("hour " if len(hours.values) == 1 else "hours ") + _terms(hours, lambda h: f"{h:02d}")


def _months(months: Field) -> str:
    step = _stepped(months)
    if step is not None:
        return f"every {step.step} months" + ("" if step.start == 1 else f" from {MONTH_NAMES[step.start - 1]}")
    return _terms(months, lambda m: MONTH_NAMES[m - 1])


def _days(days: Days, months: Field, fixed: bool) -> str:
    """The days, with the months they fall in: "on the last day of every month", " on Monday in May"."""
    of_months = "every month" if months.every else _months(months)
    in_months = "" if months.every else f" in {of_months}"
    if days.kind == "every":
        return (" every day" if fixed else "") + in_months
    if days.kind == "weekdays":
        assert days.field is not None
        return " on " + _terms(days.field, lambda d: DAY_NAMES[d - 1]) + in_months
    if days.kind == "dates":
        assert days.field is not None
        plural = "day " if len(days.field.values) == 1 else "days "
        lead = plural + _terms(days.field, str)
    elif days.kind == "last":
        lead = "the last day"
    elif days.kind == "last-weekday":
        lead = "the last weekday"
    elif days.kind == "nearest-weekday":
        lead = f"the weekday nearest day {days.day}"
    elif days.kind == "nth":
        lead = f"the {ORDINALS[days.nth - 1]} {DAY_NAMES[days.day - 1]}"
    else:  # last-of
        lead = f"the last {DAY_NAMES[days.day - 1]}"
    return f" on {lead} of {of_months}"


def _years(years: Field) -> str:
    return "" if years.every else ", in " + _terms(years, str)
