"""The patch instance's compliance once its patch command succeeded: DescribeInstancePatchStates,
50 instances a call (its limit), so a tick reads it for many groups at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from asgpatch.aws.api import Api, chunks
from asgpatch.aws.permissions import reads
from asgpatch.model import CommandView, ComplianceView, Job, PatchCounts, Phase

reads(__name__, "ssm:DescribeInstancePatchStates")

PER_CALL = 50


def compliance_view(raw: Mapping[str, Any]) -> ComplianceView:
    installed = int(raw.get("InstalledCount") or 0) + int(raw.get("InstalledPendingRebootCount") or 0)
    counts = PatchCounts(installed, int(raw.get("MissingCount") or 0), int(raw.get("FailedCount") or 0))
    ended = raw.get("OperationEndTime")
    return ComplianceView(
        counts=counts,
        operation=str(raw.get("Operation") or ""),
        ended=ended.timestamp() if isinstance(ended, datetime) else None,
    )


def observe_compliance(api: Api, jobs: Iterable[Job], commands: Mapping[str, CommandView]) -> dict[str, ComplianceView]:
    """Group -> compliance, for the jobs PATCHING whose command this tick saw succeed."""
    wanted = {
        job.instance_id: job.group
        for job in jobs
        if job.phase is Phase.PATCHING
        and job.instance_id
        and getattr(commands.get(job.group), "status", "") == "Success"
    }
    found: dict[str, ComplianceView] = {}
    for chunk in chunks(wanted, PER_CALL):
        fn = api.ssm.describe_instance_patch_states
        for raw in api.items(fn, "InstancePatchStates", InstanceIds=chunk, MaxResults=PER_CALL):
            group = wanted.get(str(raw.get("InstanceId")))
            if group is not None:
                found[group] = compliance_view(raw)
    return found
