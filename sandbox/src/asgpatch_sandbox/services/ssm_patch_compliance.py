"""Patch Manager on the sandbox: what AWS-RunPatchBaseline does to a node, and the compliance it reports.

A successful Install brings the node to the catalog's patch level (os_patch_catalog.py); under the
group tag `sandbox:patch=partial` the command still succeeds but two patches fail to install. Scan and
Install report compliance to DescribeInstancePatchStates / DescribeInstancePatches (moto has neither).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult

from asgpatch_sandbox.services.os_patch_catalog import set_instance_level
from asgpatch_sandbox.services.ssm_commands import Command, Invocation
from asgpatch_sandbox.services.ssm_common import check_length, check_max, invalid_instances, page, paged, ssm_error, utc
from asgpatch_sandbox.services.ssm_nodes import instance_tags
from asgpatch_sandbox.world import World, current

OPERATING_SYSTEM = "AMAZON_LINUX_2023"
# Kept on moto's EC2 instance objects (they vanish with them on reset): the node's latest compliance.
PATCH_STATE = "sandbox_patch_state"
MAX_INSTANCE_IDS = 50
PARTIAL_FAILURES = 2  # patches that fail under sandbox:patch=partial


@dataclass
class PatchState:
    """The compliance a node reported after its latest Scan or Install."""

    instance_id: str
    operation: str
    reboot_option: str
    patch_group: str
    baseline_id: str
    snapshot_id: str
    start: float
    end: float
    installed: int  # patches 1..installed are on the node
    pending_reboot: int = 0  # the last `pending_reboot` of those await a reboot
    failed: int = 0  # the next ones failed to install
    missing: int = 0  # and the next ones are missing
    no_reboot_install: float | None = None

    def describe(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "PatchGroup": self.patch_group,
            "BaselineId": self.baseline_id,
            "SnapshotId": self.snapshot_id,
            "InstalledCount": self.installed - self.pending_reboot,
            "InstalledOtherCount": 0,
            "InstalledPendingRebootCount": self.pending_reboot,
            "InstalledRejectedCount": 0,
            "MissingCount": self.missing,
            "FailedCount": self.failed,
            "UnreportedNotApplicableCount": 0,
            "NotApplicableCount": 0,
            "OperationStartTime": utc(self.start),
            "OperationEndTime": utc(self.end),
            "Operation": self.operation,
            "RebootOption": self.reboot_option,
            "CriticalNonCompliantCount": 0,
            "SecurityNonCompliantCount": self.missing + self.failed + self.pending_reboot,
            "OtherNonCompliantCount": 0,
        }
        if self.no_reboot_install is not None:
            answer["LastNoRebootInstallOperationTime"] = utc(self.no_reboot_install)
        return answer

    def patches(self) -> list[dict[str, Any]]:
        rows = []
        for number in range(1, self.installed + self.failed + self.missing + 1):
            if number <= self.installed - self.pending_reboot:
                state, when = "Installed", self.end
            elif number <= self.installed:
                state, when = "InstalledPendingReboot", self.end
            elif number <= self.installed + self.failed:
                state, when = "Failed", 0.0
            else:
                state, when = "Missing", 0.0
            rows.append(patch_row(number, state, when))
        return rows


def patch_name(number: int) -> str:
    return f"ALAS2023-SANDBOX-{number:04d}"


def patch_row(number: int, state: str, installed_at: float) -> dict[str, Any]:
    return {
        "Title": patch_name(number),
        "KBId": patch_name(number),
        "Classification": "Security",
        "Severity": "Important",
        "State": state,
        "InstalledTime": utc(installed_at),
    }


def patch_group_of(ec2_backend: Any, instance_id: str) -> str:
    tags = instance_tags(ec2_backend, instance_id)
    return tags.get("Patch Group") or tags.get("PatchGroup") or ""


def baseline_for(ssm_backend: Any, patch_group: str) -> str:
    try:
        baseline, _group, _os = ssm_backend.get_patch_baseline_for_patch_group(patch_group, OPERATING_SYSTEM)
    except (KeyError, AttributeError):
        return ""
    return str(baseline).rsplit("/", 1)[-1]


def apply_patch_baseline(world: World, command: Command, inv: Invocation, at: float, failed: bool) -> str:
    """Apply AWS-RunPatchBaseline to the node and record its compliance; returns the output."""
    operation = command.parameters.get("Operation", ["Scan"])[0]
    reboot = command.parameters.get("RebootOption", ["RebootIfNeeded"])[0]
    snapshot = command.parameters.get("SnapshotId", [""])[0] or str(uuid.uuid4())
    ec2_backend = world.ec2(command.region)
    group_name = patch_group_of(ec2_backend, inv.instance_id)
    missing = max(0, inv.level_target - inv.level_before)
    previous: PatchState | None = getattr(inv.instance, PATCH_STATE, None)
    state = PatchState(
        instance_id=inv.instance_id,
        operation=operation,
        reboot_option=reboot,
        patch_group=group_name,
        baseline_id=baseline_for(world.ssm(command.region), group_name),
        snapshot_id=snapshot,
        start=inv.start_at or at,
        end=at,
        installed=inv.level_before,
        no_reboot_install=previous.no_reboot_install if previous else None,
    )
    if operation == "Scan" and failed:
        return patch_output(state, missing, failed)  # a failed scan reports no compliance
    if operation == "Scan":
        state.missing = missing
        state.pending_reboot = min(previous.pending_reboot, inv.level_before) if previous else 0
    elif failed:
        state.failed = missing
    elif inv.fault == "partial":  # the command succeeds, yet some patches fail to install
        state.failed = min(missing, PARTIAL_FAILURES)
        state.installed = inv.level_target - state.failed
        set_instance_level(inv.instance, state.installed)
    else:
        set_instance_level(inv.instance, inv.level_target)
        state.installed = inv.level_target
        if reboot == "NoReboot":
            state.pending_reboot, state.no_reboot_install = missing, at
    setattr(inv.instance, PATCH_STATE, state)
    return patch_output(state, missing, failed)


def patch_output(state: PatchState, missing: int, failed: bool) -> str:
    lines = [
        f"Patch group: {state.patch_group or '(none)'}; baseline: {state.baseline_id}; snapshot: {state.snapshot_id}",
        f"Operation: {state.operation}; reboot option: {state.reboot_option}",
        f"Found {missing} missing patches.",
    ]
    if state.operation == "Scan":
        lines.append("Scan only: nothing was installed.")
    elif failed:
        lines.append(f"Installed 0 patches; {missing} failed to install.")
    else:
        lines.append(f"Installed {missing - state.failed} patches.")
        if state.failed:
            lines.append(f"{state.failed} patches failed to install.")
        if missing and state.reboot_option == "RebootIfNeeded":
            lines.append("Rebooting the node to finish the installation.")
    return "\n".join(lines) + "\n"


# --- DescribeInstancePatchStates / DescribeInstancePatches ----------------------------------------


def _patch_state_ids(self: Any, limit: int) -> list[str]:
    ids = self._get_param("InstanceIds") or []
    check_length("instanceIds", ids, MAX_INSTANCE_IDS)
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, limit)
    return list(dict.fromkeys(ids))


def describe_instance_patch_states(self: Any) -> ActionResult:
    ec2_backend = current().ec2(self.region)
    states = []
    for instance_id in _patch_state_ids(self, 100):
        instance = ec2_backend.get_instance_by_id(instance_id)
        state: PatchState | None = getattr(instance, PATCH_STATE, None) if instance is not None else None
        if state is not None:
            states.append(state.describe())
    items, token = page(states, self._get_param("NextToken"), self._get_int_param("MaxResults") or 10, "patch-states")
    return paged("InstancePatchStates", items, token)


PATCH_FILTER_KEYS = {"State": "State", "Classification": "Classification", "Severity": "Severity"}


def describe_instance_patches(self: Any) -> ActionResult:
    instance_id = self._get_param("InstanceId")
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, 100)
    instance = current().ec2(self.region).get_instance_by_id(instance_id or "")
    if instance is None:
        raise invalid_instances([str(instance_id)], current().account_id)
    state: PatchState | None = getattr(instance, PATCH_STATE, None)
    rows = state.patches() if state is not None else []
    for item in self._get_param("Filters") or []:
        key, values = item.get("Key"), set(item.get("Values") or [])
        if key not in PATCH_FILTER_KEYS:
            raise ssm_error("InvalidFilter", f"The filter key {key} isn't valid.")
        rows = [r for r in rows if r[PATCH_FILTER_KEYS[key]] in values]
    items, token = page(rows, self._get_param("NextToken"), max_results or 10, "instance-patches")
    return paged("Patches", items, token)
