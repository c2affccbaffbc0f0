"""The load balancers of groups being restored: which instances are registered with each target group
(DescribeTargetHealth, one a call) and Classic Load Balancer (DescribeLoadBalancers, 20 names a call),
and registering the ones Auto Scaling will not (RegisterTargets, RegisterInstancesWithLoadBalancer)."""

from __future__ import annotations

from collections.abc import Iterable

from asgpatch.actions import RegisterInstances
from asgpatch.actions import elb_target as elb_key
from asgpatch.aws.api import Api, chunks
from asgpatch.aws.permissions import Scope, grant, needs, reads
from asgpatch.model import GroupView

reads(__name__, "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeLoadBalancers")

ELB_NAMES_PER_CALL = 20
NOT_REGISTERED = frozenset({"unused", "draining"})  # a target's state when it is not (or no longer) registered


def registered(api: Api, groups: Iterable[GroupView]) -> dict[str, dict[str, frozenset[str]]]:
    """Group -> {target group ARN or "elb:<name>" -> the instances registered with it}."""
    groups = list(groups)
    by_target: dict[str, frozenset[str]] = {}
    for arn in dict.fromkeys(arn for g in groups for arn in g.target_groups):
        health = api.call(api.elbv2.describe_target_health, TargetGroupArn=arn)["TargetHealthDescriptions"]
        by_target[arn] = frozenset(
            str(h["Target"]["Id"]) for h in health if (h.get("TargetHealth") or {}).get("State") not in NOT_REGISTERED
        )
    for chunk in chunks((name for g in groups for name in g.load_balancers), ELB_NAMES_PER_CALL):
        found = api.call(api.elb.describe_load_balancers, LoadBalancerNames=chunk)["LoadBalancerDescriptions"]
        for balancer in found:
            by_target[elb_key(balancer["LoadBalancerName"])] = frozenset(
                str(i["InstanceId"]) for i in balancer.get("Instances") or []
            )
    return {
        g.name: {t: by_target[t] for t in (*g.target_groups, *map(elb_key, g.load_balancers)) if t in by_target}
        for g in groups
    }


@needs(grant(Scope.LOAD_BALANCERS, "elasticloadbalancing:RegisterTargets",
                 "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
                 why="instances a running group launched while asgpatch held AddToLoadBalancer suspended are "
                 "never added by Auto Scaling: the restore registers them"))  # fmt: skip
def register(api: Api, action: RegisterInstances) -> None:
    for arn in action.target_groups:
        api.call(api.elbv2.register_targets, TargetGroupArn=arn, Targets=[{"Id": i} for i in action.instance_ids])
    for name in action.load_balancers:
        api.call(
            api.elb.register_instances_with_load_balancer,
            LoadBalancerName=name,
            Instances=[{"InstanceId": i} for i in action.instance_ids],
        )
