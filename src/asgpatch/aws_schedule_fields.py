"""The six fields of an AWS cron expression, read as Maintenance Windows and EventBridge read them.

AWS's cron is Quartz's, not Unix's: day-of-week counts 1=SUN to 7=SAT, one of day-of-month and
day-of-week must be `?`, and there is a year. Each field's error names the field, so a user (or the
template command validating before it writes) knows which part to fix. Pure: text in, sets out.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

FIRST_YEAR, LAST_YEAR = 1970, 2199
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # AWS numbers them 1 to 7


class ScheduleError(ValueError):
    """An expression AWS would refuse; the message names the field at fault."""


@dataclass(frozen=True)
class Spec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names for low, low+1, ... (JAN-DEC, SUN-SAT)
    allowed: str = ", - * /"  # what AWS takes in the field, for the error message
    cyclic: bool = True  # a range may wrap (hours 22-2); years do not
    digits: int = 2


MINUTES = Spec("minutes", 0, 59)
HOURS = Spec("hours", 0, 23)
DAY_OF_MONTH = Spec("day-of-month", 1, 31, allowed=", - * ? / L W")
MONTH = Spec("month", 1, 12, names=MONTHS)
DAY_OF_WEEK = Spec("day-of-week", 1, 7, names=WEEKDAYS, allowed=", - * ? L #")
YEAR = Spec("year", FIRST_YEAR, LAST_YEAR, cyclic=False, digits=4)


@dataclass(frozen=True)
class Term:
    """One comma-separated part: a value, a range, or either with a /step; `star` when written `*`."""

    start: int
    end: int
    step: int = 1
    star: bool = False

    @property
    def single(self) -> bool:
        return self.start == self.end and not self.star and self.step == 1


@dataclass(frozen=True)
class Field:
    spec: Spec
    terms: tuple[Term, ...]
    values: tuple[int, ...]  # sorted

    @property
    def every(self) -> bool:
        return len(self.terms) == 1 and self.terms[0].star and self.terms[0].step == 1

    @property
    def singles(self) -> bool:
        return all(term.single for term in self.terms)


def fail(spec: Spec | str, message: str) -> ScheduleError:
    return ScheduleError(f"{spec if isinstance(spec, str) else spec.name}: {message}")


def parse_field(text: str, spec: Spec) -> Field:
    """A field of plain values, ranges, steps and `*` (every field but the two day fields' specials)."""
    for char in text:
        if not (_digits(char) or (char.isascii() and char.isalpha() and spec.names) or char in ",-*/"):
            raise fail(spec, f"{char} is not allowed here (allowed: {spec.allowed})")
    items = text.split(",")
    if any(not item for item in items):
        raise fail(spec, f"{text!r} has an empty value in its list")
    if len(items) > 1 and "*" in items:
        raise fail(spec, "* cannot be part of a list")
    terms = tuple(_term(item, spec) for item in items)
    values = sorted({value for term in terms for value in _expand(term, spec)})
    return Field(spec, terms, tuple(values))


def _term(item: str, spec: Spec) -> Term:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _digits(step_text) or int(step_text) == 0:
            raise fail(spec, f"{item!r}: the step after / must be a positive whole number")
        step = int(step_text)
        if step > spec.high:
            raise fail(spec, f"{item!r}: a step of {step} is larger than the field ({spec.low}-{spec.high})")
    if base == "*":
        return Term(spec.low, spec.high, step, star=True)
    first, dash, last = base.partition("-")
    start = _value(first, spec)
    if not dash:
        return Term(start, spec.high if slash else start, step)
    end = _value(last, spec)
    if end < start and not spec.cyclic:
        raise fail(spec, f"{base!r} is a range backwards")
    return Term(start, end, step)


def _value(text: str, spec: Spec) -> int:
    upper = text.upper()
    if spec.names and upper in spec.names:
        return spec.low + spec.names.index(upper)
    if not _digits(text) or len(text) > spec.digits:
        kind = f"{spec.low}-{spec.high}" + (f" or {spec.names[0]}-{spec.names[-1]}" if spec.names else "")
        raise fail(spec, f"{text!r} is not a value of this field ({kind})" if text else f"a value is missing ({kind})")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise fail(spec, f"{value} is out of range ({spec.low}-{spec.high})")
    return value


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _expand(term: Term, spec: Spec) -> list[int]:
    """A term's values; a range that wraps (22-2, FRI-MON) runs on past the end to the start."""
    span = spec.high - spec.low + 1
    length = (term.end - term.start) % span if spec.cyclic else term.end - term.start
    return [spec.low + (term.start - spec.low + offset) % span for offset in range(0, length + 1, term.step)]


@dataclass(frozen=True)
class Days:
    """Which days of a month the day fields pick. kind: "every" (* with ? in the other), "dates"
    (day-of-month values), "last" (L), "last-weekday" (LW), "nearest-weekday" (15W), "weekdays"
    (day-of-week values), "nth" (WED#2) or "last-of" (6L)."""

    kind: str
    field: Field | None = None
    day: int = 0  # the day of nW, or the weekday (1=SUN) of nth and last-of
    nth: int = 0

    def in_month(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        if self.kind == "every":
            return list(range(1, last + 1))
        if self.kind == "dates":
            assert self.field is not None
            return [day for day in self.field.values if day <= last]
        if self.kind == "weekdays":
            assert self.field is not None
            return [day for day in range(1, last + 1) if weekday(year, month, day) in self.field.values]
        if self.kind == "last":
            return [last]
        if self.kind == "last-weekday":
            return [_nearest_weekday(year, month, last, last)]
        if self.kind == "nearest-weekday":
            return [_nearest_weekday(year, month, self.day, last)] if self.day <= last else []
        first = 1 + (self.day - weekday(year, month, 1)) % 7
        if self.kind == "nth":
            day = first + 7 * (self.nth - 1)
            return [day] if day <= last else []
        return [first + 7 * ((last - first) // 7)]  # last-of


def weekday(year: int, month: int, day: int) -> int:
    """AWS's day-of-week number: 1=SUN ... 7=SAT (Python's Monday=0 shifted)."""
    return (date(year, month, day).weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """The weekday nearest `day`, never leaving the month: a Saturday the 1st moves to Monday the 3rd,
    a Sunday the last moves to the Friday before (Quartz's W, which AWS's cron follows)."""
    number = weekday(year, month, day)
    if number == 7:  # Saturday
        return day + 2 if day == 1 else day - 1
    if number == 1:  # Sunday
        return day - 2 if day == last else day + 1
    return day


def parse_day_of_month(text: str) -> Days | None:
    """None for `?`."""
    if text == "?":
        return None
    upper = text.upper()
    if upper == "L":
        return Days("last")
    if upper == "LW":
        return Days("last-weekday")
    if re.fullmatch(r"L-[0-9]+", upper):
        raise fail(DAY_OF_MONTH, f"{text}: an offset from the last day is not accepted (use L, LW or nW)")
    if "W" in upper or "L" in upper:
        match = re.fullmatch(r"([0-9]{1,2})W", upper)
        if match is None:
            raise fail(DAY_OF_MONTH, f"{text}: L and W are written alone: L, LW, or one day then W (15W)")
        return Days("nearest-weekday", day=_value(match.group(1), DAY_OF_MONTH))
    field = parse_field(text, DAY_OF_MONTH)
    return Days("every" if field.every else "dates", field)


def parse_day_of_week(text: str) -> Days | None:
    """None for `?`."""
    if text == "?":
        return None
    upper = text.upper()
    if upper == "L":  # L alone: the last day of the week, Saturday
        return Days("weekdays", parse_field("7", DAY_OF_WEEK))
    if "#" in upper:
        if "," in upper or "-" in upper:
            raise fail(DAY_OF_WEEK, f"{text}: with # the field holds a single expression, not a list or range")
        name, _, nth = upper.partition("#")
        if not _digits(nth):
            raise fail(DAY_OF_WEEK, f"{text}: # must be followed by 1 to 5 (the weekday's place in the month)")
        if not 1 <= int(nth) <= 5:
            raise fail(DAY_OF_WEEK, f"#{nth} is out of range: a month has at most five of a weekday (#1-#5)")
        return Days("nth", day=_value(name, DAY_OF_WEEK), nth=int(nth))
    if "L" in upper:  # no weekday's name has an L
        match = re.fullmatch(r"([1-7]|[A-Z]{3})L", upper)
        if match is None:
            raise fail(DAY_OF_WEEK, f"{text}: L is written alone (Saturday) or after one weekday (6L, FRIL)")
        return Days("last-of", day=_value(match.group(1), DAY_OF_WEEK))
    if "/" in text:
        raise fail(DAY_OF_WEEK, "/ is not allowed here (allowed: , - * ? L #; EventBridge takes no step in this field)")
    field = parse_field(text, DAY_OF_WEEK)
    return Days("every" if field.every else "weekdays", field)


def parse_days(day_of_month: str, day_of_week: str) -> Days:
    """One of the two must be `?` and the other picks the days (AWS does not combine them)."""
    both = "day-of-month and day-of-week"
    if day_of_month == "?" and day_of_week == "?":
        raise fail(both, "only one of them can be ?")
    if day_of_month != "?" and day_of_week != "?":
        raise fail(both, "one of them must be ?")
    found = parse_day_of_month(day_of_month) or parse_day_of_week(day_of_week)
    assert found is not None
    return found
