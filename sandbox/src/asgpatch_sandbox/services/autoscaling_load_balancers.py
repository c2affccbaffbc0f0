"""Auto Scaling's load-balancer registration, as AWS documents it.

moto registered every instance of a group with its target groups at once — pending ones too, which
elbv2 then refuses, so a group with a target group could not even be created — and ignored
AddToLoadBalancer. On AWS (and here):
- an instance is registered with the group's target groups and Classic Load Balancers when it is
  InService and running, and deregistered when it leaves service (leaves the group, Standby,
  Terminating, stopped or terminated);
- an instance launched while AddToLoadBalancer is suspended is never registered, not even once the
  process is resumed: "it does not add the instances that were launched while this process was
  suspended. You must register those instances manually." (the user guide's suspended processes page);
- registration follows the group on every request (a world part), and whenever moto asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.elb.exceptions import LoadBalancerNotFoundError

from asgpatch_sandbox.services.autoscaling_groups import LB_ELIGIBLE
from asgpatch_sandbox.world import World

REGISTERED = "sandbox_lb_registered"  # on moto's group: target -> instance ids Auto Scaling registered


def _serving(group: Any) -> set[str]:
    return {
        state.instance.id
        for state in group.instance_states
        if state.lifecycle_state == "InService"
        and state.instance.state == "running"
        and getattr(state.instance, LB_ELIGIBLE, False)
    }


def sync(group: Any) -> None:
    """Register what serves and Auto Scaling may add; deregister what it added and no longer serves."""
    if not group.target_group_arns and not group.load_balancer_names:
        return
    backend = group.autoscaling_backend
    serving = _serving(group)
    registered: dict[str, set[str]] = getattr(group, REGISTERED, None) or {}
    for arn in group.target_group_arns:
        target_group = backend.elbv2_backend.target_groups.get(arn)
        if target_group is None:
            continue
        done = registered.setdefault(arn, set())
        new, gone = serving - done, done - serving
        if new:
            backend.elbv2_backend.register_targets(arn, [{"Id": i, "Port": target_group.port} for i in sorted(new)])
        for instance_id in sorted(gone):
            if instance_id in target_group.targets:
                backend.elbv2_backend.deregister_targets(arn, [{"Id": instance_id}])
        registered[arn] = (done | new) - gone
    for name in group.load_balancer_names:
        try:
            (elb,) = backend.elb_backend.describe_load_balancers(names=[name])
        except LoadBalancerNotFoundError:
            continue
        done = registered.setdefault(f"elb:{name}", set())
        new, gone = serving - done, done - serving
        if new:
            backend.elb_backend.register_instances(name, sorted(new), from_autoscaling=True)
        if gone & set(elb.instance_ids):
            backend.elb_backend.deregister_instances(name, sorted(gone & set(elb.instance_ids)), from_autoscaling=True)
        registered[f"elb:{name}"] = (done | new) - gone
    setattr(group, REGISTERED, registered)


def update_attached_elbs(self: Any, group_name: str) -> None:
    """Replacement for AutoScalingBackend.update_attached_elbs."""
    group = self.autoscaling_groups.get(group_name)
    if group is not None:
        sync(group)


def update_attached_target_groups(self: Any, group_name: str) -> None:
    """Replacement for AutoScalingBackend.update_attached_target_groups."""
    group = self.autoscaling_groups.get(group_name)
    if group is not None:
        sync(group)


@dataclass
class LoadBalancerWorld:
    world: World

    def advance(self, region: str, now: float) -> None:
        for group in list(self.world.autoscaling(region).autoscaling_groups.values()):
            sync(group)
