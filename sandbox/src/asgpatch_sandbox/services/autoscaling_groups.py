"""Auto Scaling as AWS behaves and moto does not.

- Instances a group launches are `Pending` (EC2 `pending`) until the launch delay has passed, then
  `InService` (`running`); with the group tag `sandbox:launch=fail` the launch fails instead: the
  instance is terminated, a failed scaling activity is recorded and the group tries again.
- Pending instances count toward desired capacity (moto counted only InService ones).
- Instances launch from the launch-template version the group really uses ($Default, $Latest, a
  number, or the one in its MixedInstancesPolicy), with that version's image, instance profile and
  block devices, and report that version.
- Min <= Desired <= Max is enforced with AWS's ValidationError messages.
- An update that does not mention MixedInstancesPolicy keeps it; one that does merges it.
- Suspended Launch / Terminate processes stop launching / scale-in.
- Launch lifecycle hooks hold new instances in Pending:Wait: see autoscaling_lifecycle_hooks.py.
- A warm pool serves scale-outs first and may take scaled-in instances back: see autoscaling_warm_pools.py.
- Scaling activities are recorded: see autoscaling_activities.py.
- Instances stopped or terminated through EC2 are health-checked and replaced: see autoscaling_health.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import ValidationError
from moto.core.responses import ActionResult
from moto.ec2.models.instances import InstanceState as Ec2State

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.autoscaling_activities import ScalingActivities
from asgpatch_sandbox.services.autoscaling_lifecycle_hooks import HookWorld, launch_hooks
from asgpatch_sandbox.services.ssm_parameters import UnresolvableAlias
from asgpatch_sandbox.services.ssm_parameters import resolve as resolve_alias
from asgpatch_sandbox.world import RUNNING_SINCE, World, current, group_failure

LAUNCH_LOST = "The instance was stopped or terminated through EC2 while launching."
LB_ELIGIBLE = "sandbox_lb_eligible"  # on moto's EC2 instance: launched while AddToLoadBalancer was active
SERVING_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")


@dataclass
class Launch:
    instance_id: str
    group_name: str
    ready_at: float
    fails: bool
    activity: dict[str, Any]
    region: str = "us-east-1"  # a group is found again in its own region's backend only


@dataclass
class AutoScalingWorld:
    """Launches in progress: each instance goes InService (or fails) when its time comes."""

    world: World
    launches: dict[str, Launch] = field(default_factory=dict)

    @property
    def activities(self) -> ScalingActivities:
        return self.world.part(ScalingActivities)

    def advance(self, region: str, now: float) -> None:
        due = [launch for launch in self.launches.values() if launch.ready_at <= now and launch.region == region]
        if not due:
            return
        backend = self.world.autoscaling(region)
        for launch in due:
            del self.launches[launch.instance_id]
            group = backend.autoscaling_groups.get(launch.group_name)
            state = _find_state(group, launch.instance_id)
            if state is None:
                self.activities.finish(launch.activity, "Cancelled", "The instance left the group while launching.")
                continue
            if state.instance._state.name != "pending":  # stopped or terminated through EC2: see autoscaling_health.py
                self.activities.finish(launch.activity, "Cancelled", LAUNCH_LOST)
                continue
            if launch.fails:
                self._fail_launch(region, group, state, launch)
            else:
                state.instance._state = Ec2State("running", 16)
                setattr(state.instance, RUNNING_SINCE, launch.ready_at)
                if launch_hooks(group):  # Pending:Wait until its lifecycle actions end
                    self.world.part(HookWorld).hold(region, group, state, launch.activity, launch.ready_at)
                else:
                    state.lifecycle_state = "InService"
                    self.activities.finish(launch.activity, "Successful")

    def _fail_launch(self, region: str, group: Any, state: Any, launch: Launch) -> None:
        message = (
            "Instance failed to complete user's Lifecycle Action: the sandbox was asked to fail "
            "launches for this group (tag sandbox:launch=fail)."
        )
        self.activities.finish(launch.activity, "Failed", message)
        group.instance_states = [s for s in group.instance_states if s is not state]
        self.world.ec2(region).terminate_instances([state.instance.id])
        group.set_desired_capacity(group.desired_capacity)  # AWS retries the launch


def _find_state(group: Any, instance_id: str) -> Any:
    if group is None:
        return None
    return next((s for s in group.instance_states if s.instance.id == instance_id), None)


def suspended(group: Any) -> set[str]:
    """The names of the processes suspended on a moto group."""
    return {p["ProcessName"] for p in group.suspended_processes}


def used_template_spec(group: Any) -> tuple[Any, str] | None:
    """(moto LaunchTemplate, version spec) the group launches from, or None for a launch configuration."""
    if group.ec2_launch_template is None:
        return None
    return group.ec2_launch_template, str(group.launch_template_version or "$Default")


def resolve_version(group: Any) -> Any:
    spec = used_template_spec(group)
    if spec is None:
        return None
    template, version = spec
    return template.get_version(version)


def _instance_profile_name(data: dict[str, Any]) -> str | None:
    profile = data.get("IamInstanceProfile") or {}
    if profile.get("Name"):
        return str(profile["Name"])
    if profile.get("Arn"):
        return str(profile["Arn"]).rsplit("/", 1)[-1]
    return None


def launch_instances(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
    """Replacement for FakeAutoScalingGroup.replace_autoscaling_group_instances: from the warm pool
    first (autoscaling_warm_pools.py), then new instances."""
    from asgpatch_sandbox.services.autoscaling_warm_pools import take_from_pool

    if "Launch" in suspended(self):
        return
    for state in take_from_pool(self, count_needed):
        self.instance_states.append(state)
        _launching(self, state, f"Launching a new EC2 instance from warm pool: {state.instance.id}")
        count_needed -= 1
    if count_needed <= 0:
        return
    for state in run_for_group(self, count_needed, propagated_tags, lifecycle="Pending"):
        self.instance_states.append(state)
        _launching(self, state, f"Launching a new EC2 instance: {state.instance.id}")


def _launching(group: Any, state: Any, description: str) -> None:
    """Record the launch: the instance goes InService (or Pending:Wait, or fails) after the launch delay."""
    world = current()
    asg_world = world.part(AutoScalingWorld)
    activity = asg_world.activities.record(
        group.region,
        group.name,
        description,
        "an instance was started in response to a difference between desired and actual capacity.",
    )
    fails = group_failure(group, "launch") == "fail"
    # LaunchTime on the sandbox clock, as the rest of the launch: a restore compares it with when it
    # suspended AddToLoadBalancer, and moto's wall-clock stamp is days behind a clock moved forward.
    state.instance.launch_time = datetime.fromtimestamp(world.clock.now(), tz=UTC).replace(tzinfo=None)
    ready_at = world.clock.now() + world.timings.launch_seconds
    asg_world.launches[state.instance.id] = Launch(
        state.instance.id, group.name, ready_at, fails, activity, group.region
    )


def run_for_group(group: Any, count: int, propagated_tags: dict[str, str], *, lifecycle: str) -> list[Any]:
    """RunInstances for the group from the template version it really uses: `count` pending
    instances as group members in `lifecycle` (not yet added to any list). None if EC2 cannot launch."""
    world = current()
    propagated_tags[asg_models.ASG_NAME_TAG] = group.name
    version = resolve_version(group)
    instance_type = group.instance_type
    if group.mixed_instances_policy:
        overrides = group.mixed_instances_policy.get("LaunchTemplate", {}).get("Overrides") or []
        if overrides and overrides[0].get("InstanceType"):
            instance_type = overrides[0]["InstanceType"]
    kwargs: dict[str, Any] = {}
    if version is not None:
        propagated_tags.update(version.instance_tags)
        kwargs["launch_template"] = {"LaunchTemplateId": version.template.id, "Version": str(version.number)}
        user_data = version.user_data
        try:
            image_id = resolve_alias(world, group.region, version.image_id)
        except UnresolvableAlias as error:  # EC2 cannot launch it: a failed launch, nothing launched
            world.part(ScalingActivities).record(
                group.region,
                group.name,
                "Launching a new EC2 instance. Status Reason: " + str(error),
                str(error),
                status="Failed",
            ).update(StatusMessage=str(error))
            return []
        security_groups = version.security_groups
    else:
        image_id, user_data = group.launch_config.image_id, group.launch_config.user_data
        security_groups = group.launch_config.security_groups
        kwargs["launch_config"] = group.launch_config
    subnet_id = group.vpc_zone_identifier.split(",")[0] if group.vpc_zone_identifier else None
    reservation = group.autoscaling_backend.ec2_backend.run_instances(
        image_id,
        count,
        user_data,
        security_groups,
        instance_type=instance_type,
        tags={"instance": propagated_tags},
        placement=sorted(group.availability_zones)[0] if group.availability_zones else None,
        is_instance_type_default=False,
        subnet_id=subnet_id,
        **kwargs,
    )
    states = []
    for instance in reservation.instances:
        instance.autoscaling_group = group
        instance._state = Ec2State("pending", 0)
        # Auto Scaling adds it to the group's load balancers only if AddToLoadBalancer runs at launch.
        setattr(instance, LB_ELIGIBLE, "AddToLoadBalancer" not in suspended(group))
        if version is not None:
            instance.sandbox_instance_profile = _instance_profile_name(version.data)
        elif group.launch_config is not None:
            instance.sandbox_instance_profile = group.launch_config.iam_instance_profile_name
        state = asg_models.InstanceState(
            instance,
            lifecycle_state=lifecycle,
            protected_from_scale_in=group.new_instances_protected_from_scale_in,
        )
        setattr(state, "sandbox_version", str(version.number) if version is not None else None)
        states.append(state)
    return states


def _scale_in_order(group: Any, candidates: list[Any]) -> list[Any]:
    """AWS's default termination policy, simplified: instances not on the group's current
    launch-template version first, then the oldest."""
    current_version = resolve_version(group)
    current_number = str(current_version.number) if current_version is not None else None

    def key(state: Any) -> tuple[bool, str]:
        on_current = getattr(state, "sandbox_version", None) == current_number
        return (on_current, str(state.instance.launch_time))

    return sorted(candidates, key=key)


def active_instances(self: Any) -> list[Any]:
    return [s for s in self.instance_states if s.lifecycle_state in SERVING_STATES]


def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
    self.desired_capacity = self.min_size if new_capacity is None else new_capacity
    active = self.active_instances()
    delta = (self.desired_capacity or 0) - len(active)
    halted = suspended(self)
    if delta > 0 and "Launch" not in halted:
        self.replace_autoscaling_group_instances(delta, self.get_propagated_tags())
    elif delta < 0 and "Terminate" not in halted:
        candidates = [s for s in active if not s.protected_from_scale_in]
        victims = _scale_in_order(self, candidates)[:-delta]
        from asgpatch_sandbox.services.autoscaling_warm_pools import return_to_pool

        victims = return_to_pool(self, victims)  # those the warm pool takes back are not terminated
        if victims:
            activities = current().part(ScalingActivities)
            for state in victims:
                activities.record(
                    self.region,
                    self.name,
                    f"Terminating EC2 instance: {state.instance.id}",
                    "an instance was taken out of service in response to a difference between desired "
                    "and actual capacity, shrinking the capacity.",
                    status="Successful",
                )
            ids = {s.instance.id for s in victims}
            self.instance_states = [s for s in self.instance_states if s.instance.id not in ids]
            self.autoscaling_backend.ec2_backend.terminate_instances(sorted(ids))
    if self.name in self.autoscaling_backend.autoscaling_groups:
        self.autoscaling_backend.update_attached_elbs(self.name)
        self.autoscaling_backend.update_attached_target_groups(self.name)


def instance_launch_template(self: Any) -> dict[str, Any] | None:
    group = self.auto_scaling_group
    if group is None or group.ec2_launch_template is None:
        return None
    template = group.ec2_launch_template
    version = getattr(self, "sandbox_version", None) or str(template.default_version_number)
    return {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "Version": version}


# --- capacity validation -----------------------------------------------------------------------


def check_bounds(min_size: int, max_size: int, desired: int | None) -> None:
    if min_size > max_size:
        raise ValidationError(f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    if desired is not None and not min_size <= desired <= max_size:
        raise ValidationError(
            f"Desired capacity:{desired} must be between the specified min size:{min_size} and max size:{max_size}"
        )


def resized_desired(group: Any, min_size: int, max_size: int, desired: int | None) -> int:
    """The desired capacity after an update: as given, else the current one pulled inside the bounds."""
    check_bounds(min_size, max_size, desired)
    if desired is not None:
        return desired
    current_desired = group.desired_capacity or 0
    return max(min_size, min(max_size, current_desired))


def _merge_mixed_policy(existing: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    if not existing:
        return update
    merged = dict(existing)
    if "InstancesDistribution" in update:
        distribution = dict(existing.get("InstancesDistribution") or {})
        distribution.update(update["InstancesDistribution"])
        merged["InstancesDistribution"] = distribution
    if "LaunchTemplate" in update:
        template = dict(existing.get("LaunchTemplate") or {})
        template.update(update["LaunchTemplate"])
        merged["LaunchTemplate"] = template
    return merged


def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
    """AWS answers ValidationError for an instance no group has (moto raised StopIteration: a 500)."""
    if not any(s.instance.id == instance_id for g in self.autoscaling_groups.values() for s in g.instance_states):
        raise ValidationError(f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
    return original(asg_models.AutoScalingBackend, "terminate_instance")(self, instance_id, should_decrement)


def update_auto_scaling_group(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    group = self.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError("AutoScalingGroup name not found - null")
    min_size = kwargs.get("min_size")
    max_size = kwargs.get("max_size")
    new_min = group.min_size if min_size is None else min_size
    new_max = group.max_size if max_size is None else max_size
    kwargs["desired_capacity"] = resized_desired(group, new_min, new_max, kwargs.get("desired_capacity"))
    policy = kwargs.get("mixed_instances_policy")
    if policy is None and not kwargs.get("launch_template") and not kwargs.get("launch_config_name"):
        policy = group.mixed_instances_policy
    elif policy is not None:
        policy = _merge_mixed_policy(group.mixed_instances_policy, policy)
    kwargs["mixed_instances_policy"] = _one_template_reference(policy)
    return original(asg_models.AutoScalingBackend, "update_auto_scaling_group")(self, name, *args, **kwargs)


def _one_template_reference(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """moto stores the policy's template by id and name but refuses a request naming both."""
    if not policy or "LaunchTemplate" not in policy:
        return policy
    template = dict(policy["LaunchTemplate"])
    spec = dict(template.get("LaunchTemplateSpecification") or {})
    if spec.get("LaunchTemplateId"):
        spec.pop("LaunchTemplateName", None)
    template["LaunchTemplateSpecification"] = spec
    return {**policy, "LaunchTemplate": template}


def create_auto_scaling_group(self: Any, name: str, **kwargs: Any) -> Any:
    min_size, max_size = kwargs.get("min_size"), kwargs.get("max_size")
    if min_size is not None and max_size is not None:
        check_bounds(min_size, max_size, kwargs.get("desired_capacity"))
    if name in self.autoscaling_groups:
        from moto.autoscaling.exceptions import AutoscalingClientError

        error = AutoscalingClientError(
            f"AutoScalingGroup by this name already exists - A group with the name {name} already exists"
        )
        error.code = "AlreadyExists"
        raise error
    return original(asg_models.AutoScalingBackend, "create_auto_scaling_group")(self, name=name, **kwargs)


def respond_set_desired_capacity(self: Any) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    desired = self._get_int_param("DesiredCapacity")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    if desired > group.max_size:
        raise ValidationError(
            f"New SetDesiredCapacity value {desired} is above max value {group.max_size} for the AutoScalingGroup."
        )
    if desired < group.min_size:
        raise ValidationError(
            f"New SetDesiredCapacity value {desired} is below min value {group.min_size} for the AutoScalingGroup."
        )
    self.autoscaling_backend.set_desired_capacity(name, desired)
    return ActionResult({})
