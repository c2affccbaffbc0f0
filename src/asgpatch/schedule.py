"""A group's scheduled actions, as the restore must honour them.

While asgpatch holds ScheduledActions suspended, Auto Scaling skips every action that comes due and
never catches up when the process is resumed. A window that runs into the morning scale-up would
leave the service at its night-time size for the day. So the restore puts the group where its own
schedule says it should be now: each action's latest occurrence since the processes were suspended
(Recurrence in its TimeZone, or StartTime for a one-time action; never before StartTime or after
EndTime), applied oldest first, as Auto Scaling would have applied them. Pure: actions in, capacity out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from asgpatch.model import Capacity, ScheduledAction


@dataclass(frozen=True)
class Due:
    action: ScheduledAction
    at: float  # when it came due (epoch seconds)

    def __str__(self) -> str:
        stamp = datetime.fromtimestamp(self.at, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
        return f"{self.action.name} (due {stamp})"


def latest_occurrence(action: ScheduledAction, now: float) -> float | None:
    """When the action last came due at or before `now`, honouring StartTime and EndTime."""
    if action.recurrence:
        when = _cron(action, now, forward=False)
        if when is None:
            return None
        if action.start is not None and when < action.start and not _bookkeeping(action, now):
            return None
        if action.end is not None and when > action.end:
            return _last_before(action, action.end)
        return when
    if action.start is not None and action.start <= now:
        return action.start
    return None


def _bookkeeping(action: ScheduledAction, now: float) -> bool:
    """Whether a recurring action's StartTime is only where Auto Scaling keeps its next occurrence
    (DescribeScheduledActions shows a recurring action's StartTime as its next run, moved on after
    each occurrence, run or skipped), rather than a start its owner set in the future."""
    if action.start is None or not action.recurrence:
        return False
    upcoming = _next_occurrence(ScheduledAction(**{**action.__dict__, "start": None, "end": None}), now)
    return upcoming is not None and abs(upcoming - action.start) < 60


def _last_before(action: ScheduledAction, end: float) -> float | None:
    """The last occurrence of a recurring action at or before its EndTime (and not before StartTime)."""
    return latest_occurrence(ScheduledAction(**{**action.__dict__, "end": None}), end)


def due_between(actions: Iterable[ScheduledAction], since: float, now: float) -> list[Due]:
    """Each action whose latest occurrence falls in (since, now], oldest first."""
    return _due(actions, lambda action: latest_occurrence(action, now), since, now)


def due_within(actions: Iterable[ScheduledAction], start: float, end: float) -> list[Due]:
    """For `plan`: every action that will come due between now (`start`) and the window's end."""
    return _due(actions, lambda action: _next_occurrence(action, start), start, end)


def _due(
    actions: Iterable[ScheduledAction], occurrence: Callable[[ScheduledAction], float | None], low: float, high: float
) -> list[Due]:
    """The actions whose chosen occurrence falls in (low, high], oldest first."""
    found = ((action, occurrence(action)) for action in actions)
    return sorted(
        (Due(action, when) for action, when in found if when is not None and low < when <= high),
        key=lambda d: (d.at, d.action.name),
    )


def _next_occurrence(action: ScheduledAction, after: float) -> float | None:
    if action.recurrence:
        when = _cron(action, max(after, action.start or after), forward=True)
        return None if when is None or (action.end is not None and when > action.end) else when
    return action.start if action.start is not None and action.start > after else None


def _cron(action: ScheduledAction, moment: float, forward: bool) -> float | None:
    """The recurrence's next occurrence after `moment`, or its last one at or before it, in its zone."""
    try:
        steps = croniter(str(action.recurrence), datetime.fromtimestamp(moment, tz=_zone(action.time_zone)))
        found = steps.get_next(datetime) if forward else steps.get_prev(datetime)
    except (ValueError, KeyError):
        return None
    return float(found.timestamp())


def apply(capacity: Capacity, due: Sequence[Due]) -> Capacity:
    """The capacity after the actions, applied in order as Auto Scaling applies one: the sizes it sets
    replace the group's, and a desired capacity it does not set is pulled inside the new limits."""
    for item in due:
        action = item.action
        low = capacity.min if action.min is None else action.min
        high = capacity.max if action.max is None else action.max
        desired = capacity.desired if action.desired is None else action.desired
        if low > high:
            continue  # Auto Scaling refuses such an update (a failed scheduled activity): nothing changes
        capacity = Capacity(low, high, min(max(desired, low), high))
    return capacity


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
