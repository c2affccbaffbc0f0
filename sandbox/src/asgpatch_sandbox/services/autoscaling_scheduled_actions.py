"""Scheduled actions as AWS runs them: named per group, and they fire.

moto keys scheduled actions by name alone (a second group's `up` replaced the first group's) and
never runs them. Here they are keyed by (group, name), validated, and fired on their Recurrence
(5-field cron, in their TimeZone or UTC) between StartTime and EndTime, or once at StartTime — unless
the group's ScheduledActions process is suspended, in which case that occurrence is skipped (AWS
does not catch up on occurrences missed during a suspension). One-time actions are deleted once due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import ValidationError

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.autoscaling_activities import ScalingActivities
from asgpatch_sandbox.services.autoscaling_groups import check_bounds, resized_desired, suspended
from asgpatch_sandbox.world import World, current

NEXT_FIRE = "sandbox_next_fire"


def _key(group_name: str, action_name: str) -> str:
    return f"{group_name}\x00{action_name}"


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"Invalid time format: {value}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Invalid time zone: {name}") from None


def validate_recurrence(recurrence: str) -> None:
    if len(recurrence.split()) != 5 or not croniter.is_valid(recurrence):
        raise ValidationError(f"Given recurrence string '{recurrence}' is invalid.")


def next_fire_after(action: Any, after: float) -> float | None:
    """The first time the action fires strictly after `after`, or None when it never will again."""
    start = _parse_time(action.start_time)
    end = _parse_time(action.end_time)
    if not action.recurrence:
        if start is None:
            return None
        return start.timestamp()  # one-time: due at StartTime, however late we notice
    zone = _zone(action.time_zone)
    base = datetime.fromtimestamp(after, tz=UTC)
    if start is not None and start > base:
        base = datetime.fromtimestamp(start.timestamp() - 1, tz=UTC)  # start itself may be an occurrence
    nxt = croniter(action.recurrence, base.astimezone(zone)).get_next(datetime)
    if end is not None and nxt > end:
        return None
    return float(nxt.timestamp())


def latest_occurrence(action: Any, now: float) -> float:
    """For a recurring action: its last occurrence at or before now (catching up after a clock jump)."""
    zone = _zone(action.time_zone)
    moment = datetime.fromtimestamp(now, tz=UTC).astimezone(zone)
    if croniter.match(action.recurrence, moment):
        return now
    return float(croniter(action.recurrence, moment).get_prev(datetime).timestamp())


@dataclass
class ScheduledWorld:
    world: World

    def advance(self, region: str, now: float) -> None:
        backend = self.world.autoscaling(region)
        due: list[tuple[float, str, Any]] = []
        for key, action in backend.scheduled_actions.items():
            fire = getattr(action, NEXT_FIRE, None)
            if fire is not None and fire <= now:
                occurred = latest_occurrence(action, now) if action.recurrence else fire
                due.append((max(occurred, fire), key, action))
        for occurred, key, action in sorted(due, key=lambda item: item[0]):
            self._fire(backend, region, action, occurred)
            if action.recurrence:
                setattr(action, NEXT_FIRE, next_fire_after(action, max(occurred, now)))
            else:
                backend.scheduled_actions.pop(key, None)

    def _fire(self, backend: Any, region: str, action: Any, occurred: float) -> None:
        group = backend.autoscaling_groups.get(action.auto_scaling_group_name)
        if group is None:
            return
        if "ScheduledActions" in suspended(group):
            return
        activities = self.world.part(ScalingActivities)
        new_min = group.min_size if action.min_size is None else action.min_size
        new_max = group.max_size if action.max_size is None else action.max_size
        before = group.desired_capacity
        try:
            desired = resized_desired(group, new_min, new_max, action.desired_capacity)
        except ValidationError as error:
            activities.record(
                region,
                group.name,
                f"Executing scheduled action {action.scheduled_action_name}",
                f"scheduled action {action.scheduled_action_name} failed: {error.message}",
                status="Failed",
            )
            return
        group.min_size, group.max_size = new_min, new_max
        group.set_desired_capacity(desired)
        activities.record(
            region,
            group.name,
            f"Executing scheduled action {action.scheduled_action_name}",
            f"a scheduled action update of AutoScalingGroup constraints to min: {new_min}, max: {new_max}, "
            f"desired: {desired} changing the desired capacity from {before} to {desired}.",
            status="Successful",
        )


def put_scheduled_update_group_action(
    self: Any,
    name: str,
    desired_capacity: Any,
    max_size: Any,
    min_size: Any,
    scheduled_action_name: str,
    start_time: Any,
    end_time: Any,
    recurrence: Any,
    timezone: Any,
) -> Any:
    if name not in self.autoscaling_groups:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    min_size, max_size = asg_models.make_int(min_size), asg_models.make_int(max_size)
    desired_capacity = asg_models.make_int(desired_capacity)
    if min_size is None and max_size is None and desired_capacity is None:
        raise ValidationError("At least one of MinSize, MaxSize or DesiredCapacity must be specified.")
    if min_size is not None and max_size is not None:
        check_bounds(min_size, max_size, desired_capacity)
    if recurrence:
        validate_recurrence(recurrence)
    _zone(timezone)
    start, end = _parse_time(start_time), _parse_time(end_time)
    now = current().clock.now()
    if start is not None and end is not None and end <= start:
        raise ValidationError("Start time must be before end time.")
    if not recurrence:
        if start is None:
            raise ValidationError("You must specify a StartTime or a Recurrence.")
        if start.timestamp() < now - 60:
            raise ValidationError("Given start time is in the past")
    action_cls: Any = asg_models.FakeScheduledAction
    action = action_cls(
        name,
        desired_capacity,
        max_size,
        min_size,
        scheduled_action_name,
        start_time,
        end_time,
        recurrence,
        timezone,
    )
    setattr(action, NEXT_FIRE, next_fire_after(action, now))
    self.scheduled_actions[_key(name, scheduled_action_name)] = action
    return action


def delete_scheduled_action(self: Any, auto_scaling_group_name: str, scheduled_action_name: str) -> None:
    if self.scheduled_actions.pop(_key(auto_scaling_group_name, scheduled_action_name), None) is None:
        raise ValidationError("Scheduled action name not found")


def delete_auto_scaling_group(self: Any, group_name: str) -> None:
    original(asg_models.AutoScalingBackend, "delete_auto_scaling_group")(self, group_name)
    for key in [k for k, a in self.scheduled_actions.items() if a.auto_scaling_group_name == group_name]:
        del self.scheduled_actions[key]
