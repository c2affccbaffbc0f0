"""Warm pools as Auto Scaling keeps them; moto stores a warm pool's settings and never fills it.

On AWS (and here) a group with a warm pool keeps pre-initialized instances beside it:
- the pool holds max(MaxGroupPreparedCapacity (default: the group's MaxSize) - desired, MinSize)
  instances; missing ones are launched into it (`Warmed:Pending`, then `Warmed:Stopped`, `Warmed:Running`
  or `Warmed:Hibernated` after the launch delay) from the group's launch-template version *at that
  time*, and extra ones are terminated, those on other versions first;
- a scale-out takes ready pool instances first (`Pending`, then InService as any launch, launch hooks
  included) and launches new instances only for the rest; a pool instance keeps the version and image
  it was launched with — which is why a new launch-template version does not reach the pool: "existing
  instances are not affected", and AWS's remedy is to terminate them (or an instance refresh);
- with InstanceReusePolicy ReuseOnScaleIn, a scale-in returns instances to the pool (stopped);
- TerminateInstanceInAutoScalingGroup terminates a pool instance and the pool replaces it;
- DescribeWarmPool lists the pool's instances with their lifecycle state and launch template version;
  DeleteWarmPool terminates them.
Launch hooks on the way into the pool, and the pool's own Warmed:Terminating states, are not emulated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import ValidationError
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models.instances import InstanceState as Ec2State

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.autoscaling_activities import ScalingActivities
from asgpatch_sandbox.services.autoscaling_groups import (
    LB_ELIGIBLE,
    resolve_version,
    run_for_group,
    suspended,
)
from asgpatch_sandbox.world import World, current

POOL = "sandbox_warm_pool"  # on moto's group: the InstanceStates in its warm pool
READY = ("Warmed:Stopped", "Warmed:Running", "Warmed:Hibernated")
GONE = ("shutting-down", "terminated")
PAGE = 50  # DescribeWarmPool: MaxRecords up to 50


def pool_of(group: Any) -> list[Any]:
    pool: list[Any] | None = getattr(group, POOL, None)
    if pool is None:
        pool = []
        setattr(group, POOL, pool)
    return pool


def pool_size(group: Any) -> int:
    warm = group.warm_pool
    if warm is None:
        return 0
    prepared = warm.max_group_prepared_capacity
    top = group.max_size if prepared in (None, -1, "-1") else int(prepared)
    return max(top - (group.desired_capacity or 0), int(warm.min_size or 0))


def _reuses(group: Any) -> bool:
    policy = (group.warm_pool.instance_reuse_policy if group.warm_pool is not None else None) or {}
    return str(policy.get("ReuseOnScaleIn", "false")).lower() == "true"


def take_from_pool(group: Any, count: int) -> list[Any]:
    """Up to `count` ready pool instances, out of the pool and Pending: EC2 starts them."""
    pool = pool_of(group)
    ready = [s for s in pool if s.lifecycle_state in READY and s.instance.state not in GONE][:count]
    for state in ready:
        pool.remove(state)
        state.lifecycle_state = "Pending"
        state.instance._state = Ec2State("pending", 0)
        setattr(state.instance, LB_ELIGIBLE, "AddToLoadBalancer" not in suspended(group))
    return ready


def return_to_pool(group: Any, victims: list[Any]) -> list[Any]:
    """A scale-in with ReuseOnScaleIn: the victims go back to the pool. Returns those to terminate."""
    if group.warm_pool is None or not _reuses(group):
        return victims
    world = current()
    for state in victims:
        world.part(ScalingActivities).record(
            group.region, group.name, f"Moving EC2 instance to the warm pool: {state.instance.id}",
            "an instance was taken out of service in response to a difference between desired and actual "
            "capacity, shrinking the capacity; it returns to the warm pool.", status="Successful",
        )  # fmt: skip
        group.instance_states = [s for s in group.instance_states if s is not state]
        _enter(world, group, state)
    return []


def _enter(world: World, group: Any, state: Any) -> None:
    state.lifecycle_state = "Warmed:Pending"
    pool_of(group).append(state)
    world.part(WarmPoolWorld).entering[state.instance.id] = world.clock.now() + world.timings.launch_seconds


def _settle(state: Any, pool_state: str) -> None:
    state.lifecycle_state = f"Warmed:{pool_state}"
    if pool_state == "Running":
        state.instance._state = Ec2State("running", 16)
    else:  # Stopped, Hibernated: the instance ran its first boot and stopped
        state.instance._state = Ec2State("stopped", 80)
        state.instance.sandbox_running_since = None


@dataclass
class WarmPoolWorld:
    world: World
    entering: dict[str, float] = field(default_factory=dict)  # instance id -> when it is ready in the pool

    def advance(self, region: str, now: float) -> None:
        for group in list(self.world.autoscaling(region).autoscaling_groups.values()):
            pool = getattr(group, POOL, None)
            if group.warm_pool is None and not pool:
                continue
            self._keep(region, group, now)

    def _keep(self, region: str, group: Any, now: float) -> None:
        pool = pool_of(group)
        pool[:] = [s for s in pool if s.instance.state not in GONE]
        if group.warm_pool is None:  # deleted: its instances go
            self._terminate(region, group, list(pool))
            return
        for state in pool:
            ready_at = self.entering.get(state.instance.id)
            if state.lifecycle_state == "Warmed:Pending" and ready_at is not None and ready_at <= now:
                del self.entering[state.instance.id]
                _settle(state, group.warm_pool.pool_state)
        wanted = pool_size(group)
        if len(pool) < wanted and "Launch" not in suspended(group):
            for state in run_for_group(
                group, wanted - len(pool), group.get_propagated_tags(), lifecycle="Warmed:Pending"
            ):
                _enter(self.world, group, state)
        elif len(pool) > wanted:
            version = resolve_version(group)
            current_number = str(version.number) if version is not None else None
            extra = sorted(pool, key=lambda s: (getattr(s, "sandbox_version", None) == current_number, s.instance.id))
            self._terminate(region, group, extra[: len(pool) - wanted])

    def _terminate(self, region: str, group: Any, states: list[Any]) -> None:
        if not states:
            return
        ids = {s.instance.id for s in states}
        pool = pool_of(group)
        pool[:] = [s for s in pool if s.instance.id not in ids]
        for instance_id in ids:
            self.entering.pop(instance_id, None)
        self.world.ec2(region).terminate_instances(sorted(ids))


def _pool_instance(backend: Any, instance_id: str) -> tuple[Any, Any] | None:
    for group in backend.autoscaling_groups.values():
        for state in getattr(group, POOL, None) or []:
            if state.instance.id == instance_id:
                return group, state
    return None


def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
    """TerminateInstanceInAutoScalingGroup, for pool instances too (the pool replaces them)."""
    from asgpatch_sandbox.services import autoscaling_groups

    found = _pool_instance(self, instance_id)
    if found is None:
        return autoscaling_groups.terminate_instance(self, instance_id, should_decrement)
    group, state = found
    world = current()
    world.part(ScalingActivities).record(
        group.region, group.name, f"Terminating EC2 instance: {instance_id}",
        f"instance {instance_id} was taken out of the warm pool in response to a user request.", status="Successful",
    )  # fmt: skip
    world.part(WarmPoolWorld)._terminate(group.region, group, [state])
    return asg_models.TerminateInstanceActivity(state.instance, group.desired_capacity)


def _instance(state: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "InstanceId": state.instance.id,
        "InstanceType": state.instance.instance_type,
        "AvailabilityZone": state.instance.placement,
        "LifecycleState": state.lifecycle_state,
        "HealthStatus": "Healthy",
        "ProtectedFromScaleIn": bool(state.protected_from_scale_in),
    }
    template = state.launch_template
    if template is not None:
        answer["LaunchTemplate"] = template
    return answer


def describe_warm_pool(self: Any) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    current().advance()
    warm = group.warm_pool
    instances = [_instance(s) for s in pool_of(group)] if warm is not None else []
    start = int(self._get_param("NextToken") or 0)
    size = min(self._get_int_param("MaxRecords") or PAGE, PAGE)
    result: dict[str, Any] = {"Instances": instances[start : start + size]}
    if warm is not None:
        configuration: dict[str, Any] = {"MinSize": int(warm.min_size or 0), "PoolState": warm.pool_state}
        if warm.max_group_prepared_capacity not in (None, -1, "-1"):
            configuration["MaxGroupPreparedCapacity"] = int(warm.max_group_prepared_capacity)
        if warm.instance_reuse_policy:
            configuration["InstanceReusePolicy"] = {"ReuseOnScaleIn": _reuses(group)}
        result["WarmPoolConfiguration"] = configuration
    if start + size < len(instances):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def put_warm_pool(self: Any, group_name: str, **kwargs: Any) -> None:
    """PutWarmPool: refused for a mixed instances policy, as on AWS."""
    group = self.autoscaling_groups.get(group_name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {group_name} not found")
    if group.mixed_instances_policy:
        raise ValidationError("You can't add a warm pool to an Auto Scaling group that has a mixed instances policy.")
    original(asg_models.AutoScalingBackend, "put_warm_pool")(self, group_name=group_name, **kwargs)


def respond_delete_warm_pool(self: Any) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None or group.warm_pool is None:
        raise ValidationError(f"No warm pool found for Auto Scaling group {name}")
    group.warm_pool = None
    current().part(WarmPoolWorld)._keep(group.region, group, current().clock.now())
    return EmptyResult()
