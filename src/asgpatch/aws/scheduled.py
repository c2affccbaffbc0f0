"""Groups' scheduled actions: DescribeScheduledActions, one group a call (the API takes one name),
for the groups being restored after asgpatch held ScheduledActions suspended, and for `plan`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from asgpatch.aws.api import Api
from asgpatch.aws.permissions import reads
from asgpatch.model import ScheduledAction

reads(__name__, "autoscaling:DescribeScheduledActions")

PAGE = 100


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def _size(value: Any) -> int | None:
    return int(value) if value is not None else None


def action_view(raw: dict[str, Any]) -> ScheduledAction:
    return ScheduledAction(
        name=str(raw.get("ScheduledActionName", "")),
        recurrence=raw.get("Recurrence") or None,
        start=_epoch(raw.get("StartTime")),
        end=_epoch(raw.get("EndTime")),
        time_zone=raw.get("TimeZone") or None,
        min=_size(raw.get("MinSize")),
        max=_size(raw.get("MaxSize")),
        desired=_size(raw.get("DesiredCapacity")),
    )


def scheduled_actions(api: Api, groups: Iterable[str]) -> dict[str, tuple[ScheduledAction, ...]]:
    """Group -> its scheduled actions (a group that is gone has none)."""
    found: dict[str, tuple[ScheduledAction, ...]] = {}
    fn = api.autoscaling.describe_scheduled_actions
    for name in dict.fromkeys(groups):
        raws = api.items(fn, "ScheduledUpdateGroupActions", AutoScalingGroupName=name, MaxRecords=PAGE)
        found[name] = tuple(action_view(raw) for raw in raws)
    return found
