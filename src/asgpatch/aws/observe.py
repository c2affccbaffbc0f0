"""One tick's read of everything the jobs in flight need, batched per kind across all jobs.

Cost for N jobs (one group each): ceil(N/100) DescribeAutoScalingGroups; ceil(I/100) DescribeInstances
for the I instances that matter; ceil(I'/50) DescribeInstanceInformation for those running in phases
that wait on SSM; about ceil(P/50) ListCommandInvocations for P jobs PATCHING, and ceil(S/50)
DescribeInstancePatchStates for the S of them whose command succeeded; ceil(M/100)
DescribeImages for M jobs with an image; ceil(T/100) DescribeLaunchTemplates plus one
DescribeLaunchTemplateVersions per template for jobs in PENDING, IMAGING and UPDATING_TEMPLATE; and
for L jobs LAUNCHING or WAITING_INSTANCE one DescribeScalingActivities each when L <= 10, else about
ceil(3L/100) pages of the account-wide listing; for R jobs RESTORING after asgpatch suspended their
ScheduledActions, one DescribeScheduledActions each; for those with load balancers after it held
AddToLoadBalancer, one DescribeTargetHealth per target group and one DescribeLoadBalancers per 20
Classic Load Balancers. One DescribeLifecycleHooks for each group launching whose new instance waits
in Pending:Wait; one DescribeWarmPool (50 instances a page, and their images in ceil(W/100)
DescribeInstances) for each group with a warm pool as it is taken in, and while it is restored after a patch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from asgpatch.aws.activities import failed_launches
from asgpatch.aws.api import Api
from asgpatch.aws.commands import observe_commands
from asgpatch.aws.compliance import observe_compliance
from asgpatch.aws.groups import describe_named, group_views
from asgpatch.aws.images import observe_images
from asgpatch.aws.instances import Ec2Facts, ec2_facts, ssm_pings
from asgpatch.aws.lifecycle import launch_hooks, warm_pools
from asgpatch.aws.load_balancers import registered
from asgpatch.aws.scheduled import scheduled_actions
from asgpatch.aws.templates import observe_templates
from asgpatch.model import GroupView, InstanceView, Job, Observation, Outcome, Phase
from asgpatch.state import was_there

LAUNCH_PHASES = frozenset({Phase.LAUNCHING, Phase.WAITING_INSTANCE})
SSM_PHASES = frozenset({Phase.LAUNCHING, Phase.WAITING_INSTANCE, Phase.PATCHING})


def watched(job: Job, view: GroupView) -> list[str]:
    """The instances whose EC2/SSM facts decide needs: while launching every instance that was not
    there before our scale-up (the patch instance is among them), while restoring a group with load
    balancers all of them (those a scale-out launched meanwhile are registered), else only the patch
    instance."""
    present = [i.instance_id for i in view.instances]
    if job.phase in LAUNCH_PHASES and not job.instance_id:
        return [i for i in present if i not in job.preexisting]
    if _registers(job, view):
        return present
    return [job.instance_id] if job.instance_id in present else []


def _registers(job: Job, view: GroupView | None) -> bool:
    """A group being restored after asgpatch held AddToLoadBalancer suspended, with load balancers."""
    balanced = view is not None and bool(view.target_groups or view.load_balancers)
    return balanced and job.phase is Phase.RESTORING and "AddToLoadBalancer" in job.we_suspended


def _described(instance: InstanceView, facts: Mapping[str, Ec2Facts], pings: Mapping[str, str]) -> InstanceView:
    fact = facts[instance.instance_id]
    return replace(
        instance,
        ec2_state=fact.state,
        launch_time=fact.launch_time,
        ssm_ping=pings.get(instance.instance_id),
        image_id=fact.image_id,
    )


def fill_instances(api: Api, jobs: Sequence[Job], views: dict[str, GroupView | None]) -> None:
    """Add EC2 state, launch time and SSM ping to the watched instances of every group."""
    watching = {job.group: (job, view) for job in jobs if (view := views.get(job.group)) is not None}
    ids = {group: watched(job, view) for group, (job, view) in watching.items()}
    facts = ec2_facts(api, [i for group_ids in ids.values() for i in group_ids])
    running = [
        i for group, (job, _) in watching.items() if job.phase in SSM_PHASES
        for i in ids[group] if i in facts and facts[i].state == "running"
    ]  # fmt: skip
    pings = ssm_pings(api, running) if running else {}
    for group, (_, view) in watching.items():
        described = tuple(
            _described(i, facts, pings) if i.instance_id in ids[group] and i.instance_id in facts else i
            for i in view.instances
        )
        views[group] = replace(view, instances=described)


def _held_by_hook(job: Job, view: GroupView | None) -> bool:
    """A group launching whose new instance waits in Pending:Wait: a launch lifecycle hook holds it."""
    if view is None or job.phase not in LAUNCH_PHASES:
        return False
    return any(i.lifecycle == "Pending:Wait" and not was_there(i.instance_id, job.preexisting) for i in view.instances)


def _reads_warm_pool(job: Job, view: GroupView | None) -> bool:
    """A group with a warm pool about to be scaled up (a stale pool would hand out an older image), or
    patched and being restored (its warm instances hold the image before the patch): warm_pools.py."""
    if view is None or not view.warm_pool:
        return False
    return job.phase is Phase.PENDING or (job.phase is Phase.RESTORING and job.outcome is Outcome.PATCHED)


def _honours_schedule(job: Job) -> bool:
    """A group being restored after asgpatch held its ScheduledActions suspended: its schedule decides
    where the restore puts it."""
    return job.phase is Phase.RESTORING and "ScheduledActions" in job.we_suspended


def observe(api: Api, jobs: Sequence[Job], now: float) -> dict[str, Observation]:
    """Effects are read before their causes: a command that ended because someone stopped or
    terminated the instance is read first, so the instance state read after it already shows that,
    and decide relaunches instead of failing the group on the command's word."""
    jobs = list({job.group: job for job in jobs}.values())
    commands = observe_commands(api, jobs)
    compliance = observe_compliance(api, jobs, commands)
    images = observe_images(api, jobs)
    raws = describe_named(api, [job.group for job in jobs])
    parsed = {view.name: view for view in group_views(api, raws.values())}
    views: dict[str, GroupView | None] = {job.group: parsed.get(job.group) for job in jobs}
    fill_instances(api, jobs, views)
    launching = [job for job in jobs if job.phase in LAUNCH_PHASES and views[job.group] is not None]
    for group, message in failed_launches(api, launching).items():
        view = views[group]
        if view is not None:
            views[group] = replace(view, failed_launch=message)
    templates = observe_templates(api, jobs, views)
    restoring = [job.group for job in jobs if _honours_schedule(job) and views[job.group] is not None]
    schedules = scheduled_actions(api, restoring) if restoring else {}
    balanced = [view for job in jobs if _registers(job, view := views[job.group]) and view is not None]
    members = registered(api, balanced) if balanced else {}
    hooked = [job.group for job in jobs if _held_by_hook(job, views[job.group])]
    hooks = launch_hooks(api, hooked) if hooked else {}
    pooled = [job.group for job in jobs if _reads_warm_pool(job, views[job.group])]
    warm = warm_pools(api, pooled) if pooled else {}
    return {
        job.group: Observation(
            now=now,
            group=views[job.group],
            templates=templates.get(job.group, {}),
            command=commands.get(job.group) if views[job.group] is not None else None,
            image=images.get(job.group),
            compliance=compliance.get(job.group),
            scheduled=schedules.get(job.group, ()),
            registered=members.get(job.group, {}),
            launch_hooks=hooks.get(job.group, ()),
            warm=warm.get(job.group),
        )
        for job in jobs
    }
