"""Failed launches: the newest Failed scaling activity of each launching group since its scale-up.

DescribeScalingActivities takes one group name or none. A few launching groups are read one call
each; many are read from the account-wide listing (newest first, 100 a page), which stops once it is
older than every group's scale-up or its page budget is spent — AWS warns the account-wide form can
be slow, so it is only worth it when it saves many calls. A group the budget did not reach reports no
failure; its launch timeout still applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from asgpatch.aws.api import Api
from asgpatch.aws.permissions import reads
from asgpatch.model import Job

reads(__name__, "autoscaling:DescribeScalingActivities")

SKEW = 300.0  # a failure this much older than our scale-up still counts (clocks differ)
PER_GROUP_LIMIT = 10  # up to this many groups: one call each
PER_GROUP_RECORDS = 20
PAGE = 100
FINISHED = frozenset({"Successful", "Failed", "Cancelled"})

Raw = dict[str, Any]


def since(job: Job) -> float:
    return (job.launch_requested or job.phase_started) - SKEW


def _start(activity: Raw) -> float | None:
    start = activity.get("StartTime")
    return start.timestamp() if isinstance(start, datetime) else None


def _older(activity: Raw, cutoff: float) -> bool:
    """Finished before `cutoff`. Unfinished activities are listed first whatever their age, so
    only a finished one proves the rest of the listing is older still."""
    start = _start(activity)
    return start is not None and start < cutoff and activity.get("StatusCode") in FINISHED


def _lower_bound(cutoff: float) -> list[dict[str, Any]]:
    stamp = datetime.fromtimestamp(max(0.0, cutoff), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [{"Name": "StartTimeLowerBound", "Values": [stamp]}]


def _message(activity: Raw) -> str:
    return str(activity.get("StatusMessage") or activity.get("Description") or "launch failed")


def failed_launches(api: Api, jobs: Iterable[Job]) -> dict[str, str]:
    """Group -> the message of its newest Failed activity since the job's scale-up."""
    cutoff = {job.group: since(job) for job in jobs}
    if not cutoff:
        return {}
    if len(cutoff) <= PER_GROUP_LIMIT:
        return {group: message for group in cutoff if (message := _one_group(api, group, cutoff[group]))}
    return _account_wide(api, cutoff)


def _one_group(api: Api, group: str, cutoff: float) -> str | None:
    fn = api.autoscaling.describe_scaling_activities
    answer = api.call(fn, AutoScalingGroupName=group, MaxRecords=PER_GROUP_RECORDS, Filters=_lower_bound(cutoff))
    for activity in answer.get("Activities") or []:
        if _older(activity, cutoff):
            return None
        start = _start(activity)
        if activity.get("StatusCode") == "Failed" and (start is None or start >= cutoff):
            return _message(activity)
    return None


def _account_wide(api: Api, cutoff: Mapping[str, float]) -> dict[str, str]:
    found: dict[str, str] = {}
    oldest = min(cutoff.values())
    budget = -(-len(cutoff) * 3 // PAGE) + 2
    fn = api.autoscaling.describe_scaling_activities
    pages = api.pages(fn, "Activities", MaxRecords=PAGE, Filters=_lower_bound(oldest))
    for number, page in enumerate(pages):
        for activity in page:
            if _older(activity, oldest):
                return found
            start = _start(activity)
            group = str(activity.get("AutoScalingGroupName", ""))
            if (
                group in cutoff
                and group not in found
                and activity.get("StatusCode") == "Failed"
                and (start is None or start >= cutoff[group])
            ):
                found[group] = _message(activity)
        if number + 1 >= budget:
            break
    return found
