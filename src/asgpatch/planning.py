"""Which groups a run takes on, and what `plan` says it would do — without changing anything.

Shared by `plan` and `run` so the plan is exactly what the run starts from: tagged groups become
jobs (resuming any whose `asgpatch:state` tag a stopped run left), everything else is skipped with
a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from asgpatch.cloud import Discovery
from asgpatch.model import Capacity, GroupView, Job, Observation, Outcome, Phase, Settings, TemplateView
from asgpatch.salvage import read_state
from asgpatch.seal import SEAL_TAG
from asgpatch.sharing import Candidate, lineage_of, share
from asgpatch.state import LEASE_TAG, STATE_TAG, other_holder


@dataclass(frozen=True)
class Estate:
    """What a run knows of the region beyond its own groups: the launch templates they name, and every
    group (tagged or not) that names those templates too."""

    templates: Mapping[str, TemplateView] = field(default_factory=dict)
    template_users: Sequence[GroupView] = ()


@dataclass(frozen=True)
class Intake:
    jobs: tuple[Job, ...]
    skipped: tuple[tuple[GroupView, str], ...]  # (group, reason): never changed by this run
    refused: tuple[tuple[GroupView, str], ...] = ()  # (group, reason): in flight, unsafe to touch: failed


def take_in(
    discovery: Discovery,
    run_id: str,
    settings: Settings,
    in_flight: Sequence[GroupView] = (),
    now: float = 0.0,
    estate: Estate | None = None,
    *,
    trusts: Callable[[GroupView], bool],
) -> Intake:
    """Jobs for the tagged groups — resumed from their state tag when a stopped run left one, salvaged
    when the tag is unreadable — and for groups still in flight whose patch tag was removed since (they
    are restored, not patched). Resumed jobs come first: a run finishes what an earlier one started
    before it starts new work. A state tag is obeyed only when `trusts` says asgpatch wrote it on that
    group (seal.py); any other is refused and the group left alone."""
    jobs: list[Job] = []
    skipped: list[tuple[GroupView, str]] = []
    refused: list[tuple[GroupView, str]] = []
    tagged = {group.name for group in discovery.groups}
    leftovers = [group for group in in_flight if group.name not in tagged]
    for group in [*discovery.groups, *leftovers]:
        if STATE_TAG not in group.tags:
            jobs.append(Job(group=group.name, run_id=run_id, owner=run_id))
            continue
        if not trusts(group):
            refused.append((group, untrusted_reason(group)))
            continue
        found = read_state(group, run_id, now)
        if isinstance(found, Job):
            jobs.append(replace(found, owner=run_id))
        elif (holder := other_holder(group.tags.get(LEASE_TAG), run_id, now)) is not None:
            skipped.append((group, f"left to run {holder[0]}, which holds its lease"))
        else:
            refused.append((group, found.reason))
    jobs.sort(key=lambda job: job.phase is Phase.PENDING)
    for group in discovery.untagged:
        if group.name in {job.group for job in jobs}:
            continue
        value = group.tags.get(settings.tag_key)
        have = f"{settings.tag_key}={value}" if value is not None else f"no {settings.tag_key} tag"
        skipped.append((group, f"does not carry {settings.tag_key}={settings.tag_value} (has {have})"))
    intake = Intake(tuple(jobs), tuple(skipped), tuple(refused))
    if estate is None:
        return intake
    return with_shared_bakes(intake, {g.name: g for g in [*discovery.groups, *leftovers]}, estate)


def untrusted_reason(group: GroupView) -> str:
    what = "carries no" if SEAL_TAG not in group.tags else "does not match its"
    return (
        f"its {STATE_TAG} tag {what} {SEAL_TAG}: asgpatch did not write it on this group, or it was changed "
        f"since; left untouched. If an asgpatch run really left it, `asgpatch recover --asg {group.name}` "
        "restores the group from it"
    )


def with_shared_bakes(intake: Intake, views: Mapping[str, GroupView], estate: Estate) -> Intake:
    """One bake per template version: groups sharing one follow its host (sharing.py); groups whose
    patch would change what another group launches are skipped, before anything is touched."""
    candidates = [
        Candidate(views[job.group], job)
        for job in intake.jobs
        if job.group in views and job.salvaged_from is None and job.outcome not in (Outcome.FAILED, Outcome.SKIPPED)
    ]
    roles = share(candidates, estate.template_users, estate.templates)
    jobs = [
        replace(job, bake_with=roles.followers.get(job.group)) for job in intake.jobs if job.group not in roles.skipped
    ]
    skipped = [(views[name], reason) for name, reason in sorted(roles.skipped.items())]
    return replace(intake, jobs=tuple(jobs), skipped=(*intake.skipped, *skipped))


def bake_of(job: Job, views: Mapping[str, GroupView], templates: Mapping[str, TemplateView]) -> str:
    """For `plan`: which version a follower shares, in words."""
    group = views.get(job.group)
    lineage = lineage_of(Candidate(group, job), templates) if group is not None else None
    if lineage is None:
        return f"shares the bake of {job.bake_with}"
    template = templates.get(lineage[0])
    name = template.name if template is not None and template.name else lineage[0]
    return (
        f"shares the bake of {job.bake_with} (one patch instance and image for version {lineage[1]} of {name}); "
        "points the group at its new version; nothing else changes"
    )


def would(
    job: Job, group: GroupView | None, observation: Observation | None, now: float | None = None
) -> tuple[str, str, int | None]:
    """(status, reason, version the group launches from now) for `plan`."""
    if group is None:
        return "skipped", "group not found", None
    other = other_holder(group.tags.get(LEASE_TAG), job.driver, now) if now is not None else None
    if other is not None:
        return "skipped", f"left to run {other[0]}, which holds its lease", None
    if job.phase is Phase.RESTORING:
        return "would-restore", job.reason or f"finishes restoring it for run {job.run_id}", job.source_version
    if job.phase.value != "pending":
        return "would-patch", f"resumes run {job.run_id} from phase {job.phase.value}", job.source_version
    if group.template is None:
        lc = group.launch_configuration
        reason = f"uses launch configuration {lc}; only launch templates are patched" if lc else "no launch template"
        return "skipped", reason, None
    templates: Mapping[str, TemplateView] = observation.templates if observation else {}
    template = templates.get(group.template.main.template_id)
    if template is None:
        return "skipped", f"launch template {group.template.main.template_id} not found", None
    version = template.resolve(group.template.main.version)
    return "would-patch", _steps(group, version), version


def _steps(group: GroupView, version: int) -> str:
    capacity = group.capacity
    if capacity.desired == 0:
        up = Capacity(1, max(1, capacity.max), 1)
        start = f"at zero: scale {capacity} -> {up}"
    else:
        start = f"running: add one instance ({capacity} -> desired {capacity.desired + 1})"
    spec = group.template.main.version if group.template else "?"
    follow = {
        "$Latest": "the group follows $Latest",
        "$Default": "make it the default version",
    }.get(spec, "point the group at it")
    where = " in its MixedInstancesPolicy" if group.template and group.template.mixed_policy else ""
    return (
        f"{start}; patch with AWS-RunPatchBaseline; bake an AMI; new template version from {version}, "
        f"{follow}{where}; restore {capacity}"
    )
