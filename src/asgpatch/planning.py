"""Which groups a run takes on — without changing anything.

Shared by `plan` and `run` so the plan is exactly what the run starts from: tagged groups become
jobs (resuming any whose `asgpatch:state` tag a stopped run left), everything else is skipped with
a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from asgpatch.cloud import Discovery
from asgpatch.model import GroupView, Job, Outcome, Phase, Settings, TemplateView
from asgpatch.salvage import read_state
from asgpatch.seal import SEAL_TAG
from asgpatch.sharing import Candidate, share
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
