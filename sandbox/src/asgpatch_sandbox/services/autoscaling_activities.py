"""Auto Scaling's scaling activities: what a group launched and terminated, and why.

moto records none; AWS keeps each group's history (newest first) with a cause that starts with the
time, and DescribeScalingActivities pages through it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult

from asgpatch_sandbox.world import World, current

MAX_ACTIVITIES_PER_GROUP = 200
DONE = ("Successful", "Failed", "Cancelled")


@dataclass
class ScalingActivities:
    world: World
    activities: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def record(
        self, region: str, group_name: str, description: str, cause: str, status: str = "InProgress"
    ) -> dict[str, Any]:
        now = self.world.clock.now_datetime()
        activity: dict[str, Any] = {
            "ActivityId": str(uuid.uuid4()),
            "AutoScalingGroupName": group_name,
            "Description": description,
            "Cause": f"At {now:%Y-%m-%dT%H:%M:%SZ} {cause}",
            "StartTime": now,
            "StatusCode": status,
            "Progress": 100 if status in DONE else 20,
        }
        if status in DONE:
            activity["EndTime"] = now
        history = self.activities.setdefault((region, group_name), [])
        history.insert(0, activity)
        del history[MAX_ACTIVITIES_PER_GROUP:]
        return activity

    def finish(self, activity: dict[str, Any], status: str, message: str | None = None) -> None:
        activity["StatusCode"] = status
        activity["Progress"] = 100
        activity["EndTime"] = self.world.clock.now_datetime()
        if message:
            activity["StatusMessage"] = message

    def advance(self, region: str, now: float) -> None:
        """Activities end when what they describe ends; nothing to do with time alone."""


def respond_describe_scaling_activities(self: Any) -> ActionResult:
    log = current().part(ScalingActivities)
    name = self._get_param("AutoScalingGroupName")
    wanted = set(self._get_param("ActivityIds", []) or [])
    items: list[dict[str, Any]] = []
    for (region, group_name), history in log.activities.items():
        if region != self.region or (name and group_name != name):
            continue
        items.extend(a for a in history if not wanted or a["ActivityId"] in wanted)
    items.sort(key=lambda a: a["StartTime"], reverse=True)
    max_records = self._get_int_param("MaxRecords") or 100
    start = int(self._get_param("NextToken") or 0)
    page = items[start : start + max_records]
    result: dict[str, Any] = {"Activities": page}
    if start + max_records < len(items):
        result["NextToken"] = str(start + max_records)
    return ActionResult(result)
