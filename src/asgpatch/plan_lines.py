"""`plan`'s report lines: the verdict the planned ticks' decisions reached (dry_run.py), in words.

Nothing here decides anything: the status and reason come from the jobs as the run's own first ticks
leave them; what is added is description — the steps still ahead, the bake a group shares, the
schedules and hooks it will meet — and the actions, one line each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from asgpatch.actions import describe
from asgpatch.decision import minutes
from asgpatch.dry_run import Planned
from asgpatch.model import Capacity, GroupView, Job, LaunchHook, Outcome, Phase, ScheduledAction, Settings, TemplateView
from asgpatch.report import GroupResult
from asgpatch.schedule import due_within
from asgpatch.sharing import Candidate, lineage_of


def plan_line(
    before: Job,
    planned: Planned,
    group: GroupView | None,
    templates: Mapping[str, TemplateView],
    notes: str = "",
    concurrency: int = 0,
) -> GroupResult:
    after = planned.after.get(before.group, before)
    status = _status(before, after)
    reason = after.reason
    if status == "would-restore":
        reason = after.reason or f"finishes restoring it for run {before.run_id}"
    elif status == "would-patch":
        reason = _ahead(before, group, templates) + (notes if before.phase is Phase.PENDING else "")
        if before.group in planned.queued:
            reason += f"; starts when one of the first {concurrency} groups (--concurrency) is done"
    template = group.template.main.template_id if group and group.template else None
    version = after.source_version if after.source_version is not None else _version(group, templates)
    return GroupResult(
        before.group, status, reason or None, template_id=template,
        previous_version=version if status in ("would-patch", "would-restore") else None,
        capacity=group.capacity if group else None,
        actions=tuple(describe(action) for action in planned.actions.get(before.group, ())),
    )  # fmt: skip


def _status(before: Job, after: Job) -> str:
    if after.outcome is Outcome.FAILED and before.phase is not Phase.RESTORING:
        return "would-fail"
    if after.done:
        return "skipped" if after.outcome is Outcome.SKIPPED else "would-patch"
    if after.phase is Phase.RESTORING:
        return "would-restore"
    return "would-patch"


def _ahead(job: Job, group: GroupView | None, templates: Mapping[str, TemplateView]) -> str:
    if job.phase is not Phase.PENDING:
        return f"resumes run {job.run_id} from phase {job.phase.value}"
    if group is None:
        return ""
    if job.bake_with:
        return _bake_of(job, group, templates)
    version = _version(group, templates)
    return _steps(group, version) if version is not None else ""


def _version(group: GroupView | None, templates: Mapping[str, TemplateView]) -> int | None:
    if group is None or group.template is None:
        return None
    template = templates.get(group.template.main.template_id)
    return template.resolve(group.template.main.version) if template is not None else None


def _bake_of(job: Job, group: GroupView, templates: Mapping[str, TemplateView]) -> str:
    """Which version a follower shares, in words."""
    lineage = lineage_of(Candidate(group, job), templates)
    if lineage is None:
        return f"shares the bake of {job.bake_with}"
    template = templates.get(lineage[0])
    name = template.name if template is not None and template.name else lineage[0]
    return (
        f"shares the bake of {job.bake_with} (one patch instance and image for version {lineage[1]} of {name}); "
        "points the group at its new version; nothing else changes"
    )


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


def notes_for(
    group: GroupView,
    shared_with: Sequence[str],
    schedules: Sequence[ScheduledAction],
    hooks: Sequence[LaunchHook],
    settings: Settings,
    now: float,
) -> str:
    """What a host group will meet on its way: groups sharing its bake, schedules due in the window,
    launch hooks, a warm pool."""
    note = f"; the bake is shared with {', '.join(shared_with)}" if shared_with else ""
    note += _due_in_window(schedules, group, settings, now) + _launch_hooks(hooks, settings)
    if group.warm_pool:
        note += "; its warm pool's instances from the old image are replaced after the restore"
    return note


def _due_in_window(actions: Sequence[ScheduledAction], group: GroupView, settings: Settings, now: float) -> str:
    """The group's scheduled actions that fall inside the window (up to the deadline, else the longest a
    cycle may take), which Auto Scaling will skip while asgpatch holds them and the restore applies."""
    if "ScheduledActions" in group.suspended or not actions:
        return ""
    longest = settings.launch_timeout + settings.ssm_timeout + settings.patch_timeout + settings.image_timeout
    due = due_within(actions, now, settings.deadline or now + longest)
    if not due:
        return ""
    return f"; scheduled actions due in the window, applied at restore: {', '.join(str(d) for d in due)}"


def _launch_hooks(hooks: Sequence[LaunchHook], settings: Settings) -> str:
    """The launch hooks the patch instance waits for, and a warning when one may outlast the launch timeout."""
    if not hooks:
        return ""
    timeout = settings.launch_timeout
    slow = [h.name for h in hooks if h.heartbeat_timeout >= timeout]
    note = f"; the patch instance waits for launch lifecycle hook {', '.join(str(h) for h in hooks)}"
    if slow:
        note += f" — {', '.join(slow)} may hold it past --launch-timeout ({minutes(timeout)}) if its automation is slow"
    return note
