"""`asgpatch schedule EXPR`: check a cron(...) or rate(...) expression as Maintenance Windows and
EventBridge read it and show its next run times, before a window is created with it. No AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click

from asgpatch.aws_schedule import ScheduleError, describe, no_run_reason, parse, zone
from asgpatch.cli_common import fail_usage

MAX_COUNT = 100


@click.command("schedule")
@click.argument("expression", metavar="EXPR")
@click.option("--count", default="5", metavar="N", help=f"How many run times to show, 1 to {MAX_COUNT} [default: 5].")
@click.option("--after", default=None, metavar="ISO8601",
              help="Show runs after this time (without an offset: in --timezone) [default: now].")  # fmt: skip
@click.option("--timezone", default="UTC", metavar="TZ",
              help="IANA time zone the cron fields are read in, as ScheduleTimezone [default: UTC].")  # fmt: skip
@click.option("--output", default="text", metavar="[text|json]", help="Output format [default: text].")
def schedule_command(expression: str, count: str, after: str | None, timezone: str, output: str) -> None:
    """Validate an AWS cron(...) or rate(...) expression and show its next run times, in words too.

    Exit 0 when valid, 2 (one line naming the field at fault) when AWS would refuse it or it never runs
    again.
    """
    if output not in ("text", "json"):
        fail_usage(f"--output: {output!r} is not text or json")
    if not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= MAX_COUNT:
        fail_usage(f"--count: {count!r} is not a whole number from 1 to {MAX_COUNT}")
    try:
        place = zone(timezone)
    except ScheduleError as error:
        fail_usage(f"--timezone: {error}")
    start = _after(after, place)
    try:
        found = parse(expression)
    except ScheduleError as error:
        fail_usage(f"invalid schedule {json.dumps(expression)}: {error}")
    times = found.next_times(start, int(count), timezone)
    if not times:
        fail_usage(f"invalid schedule {json.dumps(expression)}: {no_run_reason(found, start)}")
    words = describe(found, timezone)
    stamps = [time.isoformat() for time in times]
    if output == "json":
        document = {"expression": found.expression, "timezone": timezone, "description": words, "next": stamps}
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo("\n".join([words, *stamps]))


def _after(text: str | None, place: ZoneInfo) -> datetime:
    """--after as an aware time in the schedule's zone (now, to the second, when not given)."""
    if text is None:
        return datetime.now(UTC).replace(microsecond=0).astimezone(place)
    try:
        moment = datetime.fromisoformat(text)
        aware = moment if moment.tzinfo else moment.replace(tzinfo=place)
        return aware.replace(microsecond=0).astimezone(place)
    except ValueError:
        fail_usage(f"--after: {text!r} is not an ISO 8601 time (e.g. 2026-12-01T00:00:00Z)")
    except OverflowError:
        fail_usage(f"--after: {text!r} is out of range")
