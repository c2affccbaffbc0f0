"""The run report (the JSON other tools script against); its terminal views are in report_views.py.

Why a dict and not a dataclass for the report: its shape is a published contract (issue 3, "Interface"),
so `build_report` spells every key out in order, and the JSON, the text table and the SNS messages are all
rendered from that one dict. A key is never omitted: a missing value is null.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgpatch.model import Capacity, Job, Outcome, PatchCounts

RUN_STATUSES = ("patched", "failed", "skipped")
PLAN_STATUSES = ("would-patch", "would-restore", "would-fail", "skipped")
IN_PROGRESS = "in-progress"  # `tick --output json` while the run goes on: a group whose job is not done
STATUSES = frozenset(RUN_STATUSES + PLAN_STATUSES + (IN_PROGRESS,))
_COUNT_ORDER = ("patched", "would-patch", "would-restore", "would-fail", "failed", "skipped")
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MISSING = "-"


@dataclass(frozen=True)
class GroupResult:
    """One group's line in the report: what happened, and what it has now."""

    name: str
    status: str  # one of STATUSES
    reason: str | None = None
    instance_id: str | None = None
    image_id: str | None = None
    template_id: str | None = None
    previous_version: int | None = None
    version: int | None = None
    capacity: Capacity | None = None
    patches: PatchCounts | None = None  # the patch instance's compliance after the Install
    actions: tuple[str, ...] | None = None  # `plan`: what the run's first ticks do to the group, in words
    account: str | None = None  # the group's shard: a group is (account, region, name)
    region: str | None = None


def result_from_job(job: Job, capacity: Capacity | None) -> GroupResult:
    """A finished job as a report line. `capacity` is the group's size at the end (None when it could not be
    read), falling back to the size the job recorded. A job without an outcome did not finish (stopped,
    interrupted): that is reported as failed, since the group may still need attention."""
    status = job.outcome.value if job.outcome is not None else Outcome.FAILED.value
    reason = job.reason
    if job.outcome is None and not reason:
        reason = f"did not finish: stopped while {job.phase.value}"
    return GroupResult(
        name=job.group,
        status=status,
        reason=reason or None,
        instance_id=job.instance_id,
        image_id=job.image_id,
        template_id=job.template_id,
        previous_version=job.source_version,
        version=job.new_version,
        capacity=capacity if capacity is not None else job.original,
        patches=job.patches,
        account=job.account or None,
        region=job.region or None,
    )


def iso_utc(timestamp: float) -> str:
    """Epoch seconds as the report writes times: 2026-11-27T04:00:00Z (whole seconds, UTC)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime(_ISO_FORMAT)


def _group_entry(result: GroupResult) -> dict[str, Any]:
    if result.status not in STATUSES:
        raise ValueError(f"unknown report status {result.status!r} for group {result.name!r}")
    capacity = result.capacity
    return {
        "name": result.name,
        "account": result.account,
        "region": result.region,
        "status": result.status,
        "reason": result.reason or None,
        "instance_id": result.instance_id,
        "image_id": result.image_id,
        "launch_template": {
            "id": result.template_id,
            "previous_version": result.previous_version,
            "version": result.version,
        },
        "capacity": {
            "min": capacity.min if capacity else None,
            "max": capacity.max if capacity else None,
            "desired": capacity.desired if capacity else None,
        },
        "patches": None
        if result.patches is None
        else {
            "installed": result.patches.installed,
            "missing": result.patches.missing,
            "failed": result.patches.failed,
        },
        "actions": None if result.actions is None else list(result.actions),
    }


def build_report(run_id: str, started_at: float, finished_at: float, entries: Sequence[GroupResult]) -> dict[str, Any]:
    """The report, key for key as the interface promises; groups in the order given."""
    return {
        "run_id": run_id,
        "started_at": iso_utc(started_at),
        "finished_at": iso_utc(finished_at),
        "groups": [_group_entry(entry) for entry in entries],
    }


def render_json(report: Mapping[str, Any]) -> str:
    """One JSON document (no trailing newline), keys in contract order, indent 2."""
    return json.dumps(report, indent=2, ensure_ascii=False)


# --- text -------------------------------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """42s, 3m12s, 1h05m00s: short enough for a table cell, exact enough for a run."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _parse_iso(text: str) -> float:
    return datetime.strptime(text, _ISO_FORMAT).replace(tzinfo=UTC).timestamp()


def summary_line(report: Mapping[str, Any]) -> str:
    """The one-line total, e.g. "4 patched, 1 failed, 2 skipped in 3m12s": statuses that occur, fixed order."""
    counts = Counter(group["status"] for group in report["groups"])
    parts = [f"{counts[status]} {status.replace('-', ' ')}" for status in _COUNT_ORDER if counts[status]]
    elapsed = format_duration(_parse_iso(report["finished_at"]) - _parse_iso(report["started_at"]))
    return f"{', '.join(parts) or 'no groups'} in {elapsed}"
