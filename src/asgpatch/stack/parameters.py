"""The stack's parameters, and their values checked before anything is written or deployed.

CloudFormation checks a parameter's AllowedPattern or range only when the stack is created, and an SSM
window with a bad schedule fails the stack half-made: so `template` and `deploy` check every value
themselves first, with the same rules AWS applies (the schedule as Maintenance Windows read it), and
refuse with one message naming the parameter (exit 2, nothing written or changed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asgpatch.config_values import MAX_CONCURRENCY

RUNTIME = "python3.13"  # deprecated 2029-06-30; python3.12 is the other choice (2028-10-31)
DEFAULT_SCHEDULE = "cron(0 4 ? * WED#2 *)"
WINDOW_NAME_VALUE = r"^[a-zA-Z0-9_\-.]{1,109}$"  # Maintenance_Window-<value> must match [a-zA-Z0-9_\-.]{3,128}
LOG_RETENTION = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                 3288, 3653]  # fmt: skip

PARAMETERS: dict[str, dict[str, Any]] = {
    "AsgTagKey": {"Type": "String", "Default": "ep:asg:patch", "MinLength": 1, "MaxLength": 128,
                  "Description": "tag that marks the Auto Scaling groups to patch"},
    "AsgTagValue": {"Type": "String", "Default": "true", "AllowedPattern": WINDOW_NAME_VALUE,
                    "Description": "value the tag must have; also names the window (Maintenance_Window-<value>): "
                                   "letters, digits, _ - . only, at most 109"},
    "Schedule": {"Type": "String", "Default": DEFAULT_SCHEDULE,
                 "Description": "when the window opens: cron(min hour day-of-month month day-of-week year) or rate()"},
    "ScheduleTimezone": {"Type": "String", "Default": "UTC", "Description": "IANA time zone the schedule is read in"},
    "Duration": {"Type": "Number", "Default": 1, "MinValue": 1, "MaxValue": 24,
                 "Description": "hours the window lasts"},
    "Cutoff": {"Type": "Number", "Default": 0, "MinValue": 0, "MaxValue": 23,
               "Description": "hours before the window's end that no group starts any more"},
    "NotificationEmail": {"Type": "String", "Default": "",
                          "Description": "address subscribed to the topic (empty: no subscription)"},
    "Concurrency": {"Type": "Number", "Default": 10, "MinValue": 1, "MaxValue": MAX_CONCURRENCY,
                    "Description": "groups patched at once"},
    "PollSeconds": {"Type": "Number", "Default": 60, "MinValue": 60, "MaxValue": 3600,
                    "Description": "seconds between ticks (at least 60: an execution has at most 25,000 events)"},
    "TickSeconds": {"Type": "Number", "Default": 900, "MinValue": 60, "MaxValue": 900,
                    "Description": "seconds one tick may take (the function's timeout); a tick killed midway holds the "
                                   "run this long and 30 s more"},
    "CodeS3Bucket": {"Type": "String", "MinLength": 3, "Description": "bucket holding the engine's Lambda zip"},
    "CodeS3Key": {"Type": "String", "MinLength": 1,
                  "Description": "key of the zip (content-hashed: a new zip is a new key, so the stack updates)"},
    "InstanceRoles": {"Type": "String", "Default": "*", "AllowedPattern": r"^[\w+=,.@*/-]+$",
                      "Description": "role name (or pattern) of the groups' instance profiles, passed to EC2 only"},
    "LogRetentionDays": {"Type": "Number", "Default": 90, "AllowedValues": LOG_RETENTION,
                         "Description": "days the function's and state machine's logs are kept"},
    "RunRetentionDays": {"Type": "Number", "Default": 400, "MinValue": 1, "MaxValue": 3650,
                         "Description": "days run states and reports are kept in the run bucket"},
}  # fmt: skip


class ParameterError(ValueError):
    """A parameter value AWS (or the window it makes) would refuse; names the parameter."""


def _number(name: str, value: str) -> int:
    spec = PARAMETERS[name]
    try:
        number = int(value)
    except ValueError:
        raise ParameterError(f"{name} must be a whole number (got {value!r})") from None
    low, high = spec.get("MinValue"), spec.get("MaxValue")
    if (low is not None and number < low) or (high is not None and number > high):
        raise ParameterError(f"{name} must be between {low} and {high} (got {number})")
    if "AllowedValues" in spec and number not in spec["AllowedValues"]:
        raise ParameterError(f"{name} must be one of {', '.join(map(str, spec['AllowedValues']))} (got {number})")
    return number


def _check(name: str, value: str) -> None:
    spec = PARAMETERS[name]
    if spec["Type"] == "Number":
        _number(name, value)
        return
    if len(value) < spec.get("MinLength", 0) or len(value) > spec.get("MaxLength", 4096):
        raise ParameterError(f"{name} must be {spec.get('MinLength', 0)} to {spec.get('MaxLength', 4096)} characters")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"].strip("^$"), value):
        raise ParameterError(f"{name} {value!r} is not allowed: {spec['Description']}")
    if name == "Schedule":
        from asgpatch.aws_schedule import ScheduleError, parse

        try:
            parse(value)
        except ScheduleError as error:
            raise ParameterError(f"Schedule: {error}") from None
    if name == "ScheduleTimezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ParameterError(f"ScheduleTimezone {value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    if name == "NotificationEmail" and value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ParameterError(f"NotificationEmail {value!r} is not an email address")


def parse_assignments(given: Iterable[str]) -> dict[str, str]:
    """`K=V` strings into {K: V}: each K a parameter of the stack, each named once."""
    values: dict[str, str] = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals:
            raise ParameterError(f"--parameter {item!r}: expected NAME=VALUE")
        if name not in PARAMETERS:
            raise ParameterError(f"--parameter {name}: the stack has no such parameter ({', '.join(PARAMETERS)})")
        if name in values:
            raise ParameterError(f"--parameter {name} given twice")
        values[name] = value
    return values


def validate(values: Mapping[str, str], required: Iterable[str] = ()) -> dict[str, str]:
    """The values, each checked, with those the template would default to checked together (Cutoff
    below Duration); `required` must be given (the code location when deploying)."""
    for name in required:
        if not values.get(name) and "Default" not in PARAMETERS[name]:
            raise ParameterError(f"{name} is required")
    merged = {name: str(spec["Default"]) for name, spec in PARAMETERS.items() if "Default" in spec}
    merged.update(values)
    for name, value in values.items():
        _check(name, value)
    if "Schedule" not in values:
        _check("Schedule", merged["Schedule"])
    if int(merged["Cutoff"]) >= int(merged["Duration"]):
        raise ParameterError(
            f"Cutoff ({merged['Cutoff']} h) must be less than Duration ({merged['Duration']} h): "
            "a window that stops starting tasks when it opens never patches"
        )
    return dict(values)
