"""Instances stopped or terminated behind Auto Scaling's back, handled as AWS does.

Why: moto removed an instance terminated through EC2 from its group and launched a replacement at
once, whatever processes were suspended, and ignored StopInstances and SetInstanceHealth. On AWS the
HealthCheck process marks an InService instance whose EC2 state is not `running` Unhealthy, and the
ReplaceUnhealthy process terminates it (it leaves the group) and the Launch process replaces it; with
ReplaceUnhealthy suspended, instances are still marked unhealthy but not replaced (AWS's "How suspended
processes affect other processes" page).
asgpatch suspends ReplaceUnhealthy while it patches, so on the sandbox as on AWS an instance killed
meanwhile must stay listed, Unhealthy and counting toward desired capacity, until the process is back.

Checked before every request (the world's advance) and right after TerminateInstances and
ResumeProcesses:

- A Pending instance whose EC2 instance is no longer pending or running did not launch: its launch
  activity is cancelled, it leaves the group and the group launches another (as moto did).
- An InService instance whose EC2 instance is not running is marked Unhealthy, unless HealthCheck is
  suspended (then nothing marks it and it stays listed, Healthy).
- An InService instance that is Unhealthy (so marked, or by SetInstanceHealth) is replaced unless
  ReplaceUnhealthy or Terminate is suspended (AWS: ReplaceUnhealthy terminates first, then launches):
  a termination activity is recorded, it leaves the group, its EC2 instance is terminated and the
  group launches up to desired capacity through the sandbox's launch path (Launch permitting).
- An instance in another lifecycle state (Standby, ...) whose EC2 instance is terminated leaves the
  group without a replacement (as moto did).
- Resuming Launch launches up to desired capacity (AWS replaces what it could not launch meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.autoscaling import models as asg_models

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.autoscaling_activities import ScalingActivities
from asgpatch_sandbox.services.autoscaling_groups import LAUNCH_LOST, AutoScalingWorld, suspended
from asgpatch_sandbox.world import World, current

UNHEALTHY = "Unhealthy"
# AWS's cause for an instance replaced because EC2 says it is terminated or stopped.
EC2_CAUSE = (
    "an instance was taken out of service in response to an EC2 health check indicating it has been "
    "terminated or stopped."
)
USER_CAUSE = "an instance was taken out of service in response to a user health-check."


def _ec2_state(state: Any) -> str:
    return str(state.instance._state.name)


def check_group(group: Any) -> None:
    """Apply the health rules to one group (see the module docstring)."""
    world = current()
    launches, activities = world.part(AutoScalingWorld).launches, world.part(ScalingActivities)
    halted = suspended(group)
    gone: list[Any] = []
    for state in group.instance_states:
        ec2_state = _ec2_state(state)
        lifecycle = state.lifecycle_state
        if lifecycle == "Pending":
            if ec2_state not in ("pending", "running"):
                launch = launches.pop(state.instance.id, None)
                if launch is not None:
                    activities.finish(launch.activity, "Cancelled", LAUNCH_LOST)
                gone.append(state)
            continue
        if lifecycle != "InService":
            if ec2_state == "terminated":
                gone.append(state)
            continue
        by_ec2 = ec2_state != "running"
        if by_ec2 and "HealthCheck" not in halted:
            state.health_status = UNHEALTHY
        if state.health_status != UNHEALTHY or halted & {"ReplaceUnhealthy", "Terminate"}:
            continue
        activities.record(
            group.region,
            group.name,
            f"Terminating EC2 instance: {state.instance.id}",
            EC2_CAUSE if by_ec2 else USER_CAUSE,
            status="Successful",
        )
        gone.append(state)
    if not gone:
        return
    ids = {s.instance.id for s in gone}
    group.instance_states = [s for s in group.instance_states if s.instance.id not in ids]
    still_there = sorted(s.instance.id for s in gone if _ec2_state(s) != "terminated")
    if still_there:
        group.autoscaling_backend.ec2_backend.terminate_instances(still_there)
    group.set_desired_capacity(group.desired_capacity)  # launches replacements unless Launch is suspended


def _needs_check(group: Any) -> bool:
    for state in group.instance_states:
        ec2_state = _ec2_state(state)
        if state.lifecycle_state == "InService":
            if ec2_state != "running" or state.health_status == UNHEALTHY:
                return True
        elif state.lifecycle_state == "Pending":
            if ec2_state not in ("pending", "running"):
                return True
        elif ec2_state == "terminated":
            return True
    return False


@dataclass
class HealthWorld:
    world: World

    def advance(self, region: str, now: float) -> None:
        for group in list(self.world.autoscaling(region).autoscaling_groups.values()):
            if _needs_check(group):
                check_group(group)


def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
    """Replacement for AutoScalingBackend.notify_terminate_instances (called by EC2 TerminateInstances)."""
    wanted = set(instance_ids)
    for group in list(self.autoscaling_groups.values()):
        if any(s.instance.id in wanted for s in group.instance_states):
            check_group(group)


def resume_processes(self: Any, group_name: str, scaling_processes: list[str]) -> None:
    group = self.autoscaling_groups.get(group_name)
    launch_was_suspended = group is not None and "Launch" in suspended(group)
    original(asg_models.AutoScalingBackend, "resume_processes")(self, group_name, scaling_processes)
    if group is None:
        return
    if _needs_check(group):
        check_group(group)
    if launch_was_suspended and "Launch" not in suspended(group):
        group.set_desired_capacity(group.desired_capacity)
