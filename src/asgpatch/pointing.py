"""UPDATING_TEMPLATE: a new launch-template version with the patched image, and the group pointed at
it the way each of its version specifications needs (a number, $Latest, $Default, a policy's overrides)."""

from __future__ import annotations

from dataclasses import replace

from asgpatch import naming
from asgpatch.decision import Decision, fail, minutes, overdue
from asgpatch.model import (
    Action,
    CreateTemplateVersion,
    GroupView,
    Job,
    Observation,
    Outcome,
    Phase,
    SetDefaultVersion,
    Settings,
    TemplateSpec,
    UseTemplateVersion,
    WriteState,
)

TEMPLATE_TIMEOUT = 600.0  # new template versions are immediate; this only bounds a stuck read


def new_version(job: Job) -> CreateTemplateVersion:
    return CreateTemplateVersion(
        template_id=job.template_id or "",
        source_version=job.source_version or 0,
        image_id=job.image_id or "",
        description=naming.version_description(job.run_id, job.source_version or 0),
    )


def updating_template(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    template = obs.templates.get(job.template_id or "")
    if job.new_version is None:
        if template is None or template.run_version is None:
            if template is None:
                return fail(job, obs.now, f"launch template {job.template_id} no longer exists")
            return Decision(job, (new_version(job),))
        job = replace(job, new_version=template.run_version)
    missing, uses = _override_versions(job, obs, group)
    if missing:
        if overdue(job.phase_started, obs.now, TEMPLATE_TIMEOUT):
            return fail(
                job, obs.now, f"override template versions were not confirmed within {minutes(TEMPLATE_TIMEOUT)}"
            )
        return Decision(job, missing)  # next tick finds them by their description and uses them
    patched = job.at(Phase.RESTORING, obs.now, outcome=Outcome.PATCHED)  # keeps a relaunch's note
    main = _use_version(group, TemplateSpec(job.template_id or "", _main_spec(group)), job.new_version or 0)
    # The group is pointed at the new version before the tag says "restoring": after a crash in
    # between, the next run is still updating, finds the version by its description and points again.
    return Decision(patched, (*main, *uses, WriteState(patched)))


def _main_spec(group: GroupView) -> str:
    return group.template.main.version if group.template else "$Default"


def _override_versions(job: Job, obs: Observation, group: GroupView) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """Override templates of a MixedInstancesPolicy that launch the same image as the main one get a
    version with the patched image too; those on another image (another architecture, say) are left
    alone. Returns (versions still to create, actions that point the group at the created ones)."""
    if group.template is None:
        return (), ()
    create: list[Action] = []
    uses: list[Action] = []
    for spec in group.template.overrides:
        view = obs.templates.get(spec.template_id)
        if spec.template_id == job.template_id or view is None:
            continue
        source = view.resolve(spec.version)
        if view.images.get(source) != job.source_image:
            continue
        if view.run_version is None:
            description = naming.version_description(job.run_id, source)
            create.append(CreateTemplateVersion(spec.template_id, source, job.image_id or "", description))
        else:
            uses.extend(_use_version(group, spec, view.run_version))
    return tuple(create), tuple(uses)


def _use_version(group: GroupView, spec: TemplateSpec, version: int) -> tuple[Action, ...]:
    """Make the group launch from `version` of the template the way its version spec requires."""
    if spec.version == "$Latest":
        return ()
    if spec.version == "$Default":
        return (SetDefaultVersion(spec.template_id, version),)
    mixed = group.template.mixed_policy if group.template else False
    return (UseTemplateVersion(group.name, spec.template_id, version, mixed),)
