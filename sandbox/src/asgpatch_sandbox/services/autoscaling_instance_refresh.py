"""Instance Refresh, which moto lacks: start, describe, cancel; Pending → InProgress → Successful.

A refresh replaces, in batches that keep MinHealthyPercentage of the desired capacity in service,
every instance that was in service when it started — or, with SkipMatching, only those whose
launch-template version or image differs from the group's. Instances protected from scale-in are
left alone (ScaleInProtectedInstances=Ignore, AWS's default). A DesiredConfiguration is applied to
the group when the refresh starts (AWS applies it at the end; documented simplification).
A replacement launch that fails fails the refresh.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.core.responses import ActionResult

from asgpatch_sandbox.services.autoscaling_groups import resolve_version, suspended
from asgpatch_sandbox.world import World, current

ACTIVE = ("Pending", "InProgress", "Cancelling")
PENDING_SECONDS = 5.0  # AWS shows a new refresh as Pending for a moment before it starts


def _client_error(code: str, message: str) -> AutoscalingClientError:
    error = AutoscalingClientError(message)
    error.code = code
    return error


@dataclass
class Refresh:
    refresh_id: str
    region: str
    group_name: str
    preferences: dict[str, Any]
    desired_configuration: dict[str, Any] | None
    started_at: Any
    started_ts: float = 0.0
    status: str = "Pending"
    status_reason: str = ""
    ended_at: Any = None
    to_replace: list[str] = field(default_factory=list)
    total: int = 0
    replaced: int = 0
    launched: set[str] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "InstanceRefreshId": self.refresh_id,
            "AutoScalingGroupName": self.group_name,
            "Status": self.status,
            "StartTime": self.started_at,
            "PercentageComplete": 100 if self.status == "Successful" else self._percentage(),
            "InstancesToUpdate": len(self.to_replace),
            "Preferences": self.preferences,
        }
        if self.status_reason:
            answer["StatusReason"] = self.status_reason
        if self.ended_at is not None:
            answer["EndTime"] = self.ended_at
        if self.desired_configuration:
            answer["DesiredConfiguration"] = self.desired_configuration
        return answer

    def _percentage(self) -> int:
        return int(100 * self.replaced / self.total) if self.total else 0


def _instance_matches(state: Any, version: Any) -> bool:
    if version is None:
        return True
    same_version = getattr(state, "sandbox_version", None) == str(version.number)
    return same_version and state.instance.image_id == version.image_id


@dataclass
class RefreshWorld:
    world: World
    refreshes: list[Refresh] = field(default_factory=list)

    def active(self, region: str, group_name: str) -> Refresh | None:
        return next(
            (r for r in self.refreshes if r.region == region and r.group_name == group_name and r.status in ACTIVE),
            None,
        )

    def advance(self, region: str, now: float) -> None:
        for refresh in [r for r in self.refreshes if r.region == region and r.status in ACTIVE]:
            self._step(refresh, now)

    def _finish(self, refresh: Refresh, status: str, reason: str = "") -> None:
        refresh.status = status
        refresh.status_reason = reason
        refresh.ended_at = self.world.clock.now_datetime()

    def _step(self, refresh: Refresh, now: float) -> None:
        group = self.world.autoscaling(refresh.region).autoscaling_groups.get(refresh.group_name)
        if group is None:
            self._finish(refresh, "Failed", "The Auto Scaling group was deleted.")
            return
        if refresh.status == "Cancelling":
            self._finish(refresh, "Cancelled", "Cancelled by request.")
            return
        if refresh.status == "Pending":
            if now >= refresh.started_ts + PENDING_SECONDS:
                self._begin(refresh, group)
            return
        if "InstanceRefresh" in suspended(group):
            return
        present = {s.instance.id: s for s in group.instance_states}
        lost = [i for i in refresh.launched if i not in present]
        if lost:
            self._finish(refresh, "Failed", f"Replacement instance {lost[0]} failed to launch.")
            return
        if any(present[i].lifecycle_state != "InService" for i in refresh.launched):
            return
        refresh.launched.clear()
        refresh.to_replace = [i for i in refresh.to_replace if i in present]
        if not refresh.to_replace:
            self._finish(refresh, "Successful")
            return
        self._replace_batch(refresh, group)

    def _begin(self, refresh: Refresh, group: Any) -> None:
        version = resolve_version(group)
        skip_matching = bool(refresh.preferences.get("SkipMatching"))
        candidates = [
            s
            for s in group.instance_states
            if s.lifecycle_state == "InService"
            and not s.protected_from_scale_in
            and not (skip_matching and _instance_matches(s, version))
        ]
        refresh.to_replace = [s.instance.id for s in candidates]
        refresh.total = len(candidates)
        refresh.status = "InProgress"

    def _replace_batch(self, refresh: Refresh, group: Any) -> None:
        desired = group.desired_capacity or 0
        min_healthy = float(refresh.preferences.get("MinHealthyPercentage", 90))
        batch_size = max(1, desired - math.ceil(desired * min_healthy / 100))
        batch = refresh.to_replace[:batch_size]
        before = {s.instance.id for s in group.instance_states}
        group.instance_states = [s for s in group.instance_states if s.instance.id not in batch]
        self.world.ec2(refresh.region).terminate_instances(batch)
        group.set_desired_capacity(group.desired_capacity)
        refresh.to_replace = refresh.to_replace[len(batch) :]
        refresh.replaced += len(batch)
        refresh.launched = {s.instance.id for s in group.instance_states} - before


def _world() -> RefreshWorld:
    part = current().part(RefreshWorld)
    return part


def _group(response: Any, name: str | None) -> Any:
    group = response.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    return group


def _validated_preferences(preferences: dict[str, Any], group: Any) -> dict[str, Any]:
    prefs: dict[str, Any] = {"MinHealthyPercentage": 90, "SkipMatching": False, "ScaleInProtectedInstances": "Ignore"}
    prefs.update({k: v for k, v in preferences.items() if v is not None})
    min_healthy = int(prefs["MinHealthyPercentage"])
    if not 0 <= min_healthy <= 100:
        raise ValidationError("MinHealthyPercentage must be between 0 and 100.")
    prefs["MinHealthyPercentage"] = min_healthy
    if str(prefs["SkipMatching"]).lower() == "true":
        prefs["SkipMatching"] = True
    elif prefs["SkipMatching"] is not True:
        prefs["SkipMatching"] = False
    version_spec = str(getattr(group, "launch_template_version", "") or "")
    if str(prefs.get("AutoRollback", "")).lower() == "true" and version_spec.lower() in ("$latest", "$default"):
        raise ValidationError("AutoRollback is not supported when the launch template version is $Latest or $Default.")
    return prefs


def start_instance_refresh(self: Any) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    group = _group(self, name)
    refreshes = _world()
    if refreshes.active(self.region, name) is not None:
        raise _client_error(
            "InstanceRefreshInProgress",
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
        )
    strategy = self._get_param("Strategy") or "Rolling"
    if strategy != "Rolling":
        raise ValidationError(f"Strategy {strategy} is not supported; use Rolling.")
    prefs = _validated_preferences(self._get_param("Preferences") or {}, group)
    desired_configuration = self._get_param("DesiredConfiguration") or None
    if desired_configuration:
        template = desired_configuration.get("LaunchTemplate")
        policy = desired_configuration.get("MixedInstancesPolicy")
        self.autoscaling_backend.update_auto_scaling_group(
            name=name,
            availability_zones=[],
            desired_capacity=None,
            max_size=None,
            min_size=None,
            launch_config_name=None,
            launch_template=template or {},
            vpc_zone_identifier=None,
            health_check_period=None,
            health_check_type=None,
            mixed_instances_policy=policy,
        )
    refresh = Refresh(
        refresh_id=str(uuid.uuid4()),
        region=self.region,
        group_name=name,
        preferences=prefs,
        desired_configuration=desired_configuration,
        started_at=current().clock.now_datetime(),
        started_ts=current().clock.now(),
    )
    refreshes.refreshes.append(refresh)
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def describe_instance_refreshes(self: Any) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    _group(self, name)
    wanted = set(self._get_param("InstanceRefreshIds", []) or [])
    items = [
        r.describe()
        for r in reversed(_world().refreshes)
        if r.region == self.region and r.group_name == name and (not wanted or r.refresh_id in wanted)
    ]
    max_records = self._get_int_param("MaxRecords") or 50
    start = int(self._get_param("NextToken") or 0)
    result: dict[str, Any] = {"InstanceRefreshes": items[start : start + max_records]}
    if start + max_records < len(items):
        result["NextToken"] = str(start + max_records)
    return ActionResult(result)


def cancel_instance_refresh(self: Any) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    _group(self, name)
    refresh = _world().active(self.region, name)
    if refresh is None:
        raise _client_error(
            "ActiveInstanceRefreshNotFound",
            f"No in progress or pending Instance Refresh found for Auto Scaling group {name}",
        )
    if refresh.status != "Cancelling":
        refresh.status = "Cancelling"
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})
